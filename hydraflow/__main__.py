"""``python -m hydraflow`` is the ``hydraflow`` command."""

from hydraflow.cli import main

if __name__ == "__main__":
    main()
