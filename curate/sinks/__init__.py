"""Where curated data goes: export folders, the Hugging Face Hub, back to Argilla."""
