"""`python -m electra_cli`, so that `accelerate launch -m electra_cli pretrain ...` works."""

from electra_cli.cli import main

if __name__ == "__main__":
    main()
