"""Job side: ``python -m hydraflow.launch.pbs SUBMITIT_FOLDER`` (the last line of every job script)."""

import sys

from hydraflow.launch.pbs._executor import job_main

if __name__ == "__main__":
    job_main(sys.argv[1:])
