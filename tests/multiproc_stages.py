"""Run by ``accelerate launch`` from tests/test_train_multiproc.py: the sft, reward, dpo and kto
stages one after the other in each launched process, with the arguments given as JSON."""

from __future__ import annotations

import json
import sys

import torch.distributed

from train import dist, dpo, kto, reward, sft

if __name__ == "__main__":
    plan = json.loads(sys.argv[1])
    with dist.session():  # as the entry points end a launched run
        for name, module in (("sft", sft), ("reward", reward), ("dpo", dpo), ("kto", kto)):
            module.main(plan[name])
    if not torch.distributed.is_initialized():
        print("left the process group")
