"""One module per `signclip-hf` subcommand (see `signclip_hf/cli.py` for the contract they follow)."""
