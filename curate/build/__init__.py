"""From records to a task's rows: the builder, unification of several annotators' answers,
agreement, the filters that keep or drop rows with a reason, and the quality figures."""
