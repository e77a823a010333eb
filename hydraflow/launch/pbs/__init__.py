"""PBS backend: a submitit executor plugin for PBS Pro / OpenPBS and Torque.

## PBS

`hydraflow.launch.pbs` is a [submitit](https://github.com/facebookincubator/submitit) executor plugin. It is
registered in submitit's `submitit` entry-point group, so once hydraflow is installed plain submitit code
can use it too:

```python
import submitit

executor = submitit.AutoExecutor(folder="/shared/logs/%j", cluster="pbs", pbs_dialect="pbspro")
executor.update_parameters(timeout_min=30, cpus_per_task=4, mem_gb=8, pbs_queue="workq")
job = executor.submit(sum, [1, 2, 3])
print(job.result())  # 6

jobs = executor.map_array(pow, [2, 3, 4], [2, 2, 2])  # one qsub -J 0-2 job array
print([j.result() for j in jobs])  # [4, 9, 16]
```

`hydra/launcher=hydraflow_pbs` runs every batch of a sweep as one such job array.

### Dialects

| | `dialect=pbspro` (PBS Pro, OpenPBS) | `dialect=torque` (Torque, slurm-wlm-torque) |
|---|---|---|
| resources | `-l select=N:ncpus=C:mpiprocs=M:ngpus=G:mem=Xgb` | `-l nodes=N:ppn=C:gpus=G`, `-l mem=Xgb` |
| walltime | `-l walltime=HH:MM:SS` | `-l walltime=HH:MM:SS` |
| job arrays | `-J 0-N%P`, sub-jobs `124[3].server` | `-t 0-N%P`, sub-jobs `124[3].server` |
| state polling | `qstat -f -F json -x -t IDS` | `qstat -f IDS` (text) |
| finished job | state `F` (job) / `X` (sub-job) with `Exit_status` | state `C` with `exit_status` |
| job environment | `PBS_JOBID`, `PBS_ARRAY_ID`, `PBS_ARRAY_INDEX` | `PBS_JOBID`, `PBS_ARRAYID` |

Both dialects write `-N`, `-q`, `-A`, `-j oe`, `-o`, `-r y` and `-V` directives. Commands are argument lists
(never shell strings), and every value that goes into a `#PBS` line is validated first: a job name, queue,
account, resource or directive containing a newline, a space where none belongs, quotes or shell syntax is
refused with an error naming the parameter. The submitit folder must be made of `[A-Za-z0-9_@%+=:,./~-]`.

### Parameters

`PBSExecutor(folder, dialect="pbspro", max_num_timeout=3, max_pickle_size_gb=1.0, python=None)`; with
`AutoExecutor` pass these as `pbs_dialect=...`, `pbs_python=...`. `update_parameters` accepts (generic
submitit names, translated by `AutoExecutor`, in brackets):

| parameter | default | meaning |
|---|---|---|
| `job_name` [`name`] | `submitit` | `#PBS -N` (letters, digits, `_.+-`) |
| `timeout_min` [`timeout_min`] | 5 | walltime in minutes |
| `nodes` [`nodes`] | 1 | chunks (PBS Pro) / nodes (Torque) |
| `ncpus` [`cpus_per_task`] | 1 | cores per chunk/node (`ncpus=` / `ppn=`) |
| `mpiprocs` [`tasks_per_node`] | none | PBS Pro `mpiprocs` per chunk |
| `ngpus` [`gpus_per_node`] | none | `ngpus=` / `:gpus=` |
| `mem_gb` [`mem_gb`] | none | `mem=Ngb` (or `Nmb` for fractions) |
| `queue`, `account` | none | `-q`, `-A` |
| `array_parallelism` | 256 | at most this many sub-jobs at once (`%P`; OpenPBS 20 / PBS Pro 2020.1+) |
| `additional_resources` | none | dict of extra `-l key=value` |
| `additional_directives` | none | list of extra raw directives, e.g. `["-m abe"]` |
| `setup`, `teardown` | none | shell lines before / after the job |
| `signal_delay_s` | 90 | the job sends itself USR2 this long before its walltime |
| `export_env` | true | the job sees the submitting environment (`-V`, and restored by the job itself) |
| `rerunnable` | true | `#PBS -r y` (needed for requeueing) |
| `stderr_to_stdout` | false | one log file per job |

### Logs, states and failures

Each job writes its output to submitit's `%j_0_log.out` / `%j_0_log.err` in the folder (the job redirects
them itself, since PBS has no portable per-sub-job file pattern); the scheduler's own messages (setup
commands, walltime kills) go to `<uid>.pbs.log` next to the submission script. One `qstat` call per poll
covers all unfinished jobs of the process. PBS states map to submitit's: `Q`/`W`/`T` → `PENDING`, `H` →
`HELD`, `R`/`B` → `RUNNING`, `E` → `COMPLETING`, `S`/`U` → `SUSPENDED`, and a finished job (`F`/`X`, Torque
`C`) to `COMPLETED` (exit 0), `FAILED`, `CANCELLED` (deleted, or killed by SIGTERM/SIGKILL: exit status
256+signal), `TIMEOUT` (PBS Pro -29, Torque -11/-12) or `OUT_OF_MEMORY`. A job that `qstat` stops listing
(history disabled, purged) is reported `MISSING` after two polls, so `job.result()` raises instead of
waiting forever; a job's result and its exception always come from submitit's result file, never from the
exit status.

### Checkpointing

As on SLURM: a job whose function has a `checkpoint` method (`submitit.helpers.Checkpointable`) is
checkpointed and requeued with `qrerun` (same job id) when it receives USR2. PBS sends no warning before the
walltime, so the job sends USR2 to itself `signal_delay_s` seconds before it. SIGTERM (`qdel`, walltime kill,
a preemption by `qrerun`) checkpoints and exits. Not `qsig -s USR2` on PBS Pro: it kills the login shell PBS
runs the job under, and so the job. Many sites reserve `qrerun` for operators: the job then ends with an
error that says so.

### Torque on top of SLURM (slurm-wlm-torque)

Debian's `slurm-wlm-torque` package provides `qsub`/`qstat`/`qdel`/`qrerun` wrappers over SLURM.
`dialect=torque` works with them; the test suite runs real jobs, arrays, failures, cancellations and a
checkpoint/requeue through them. What the wrappers do differently, and how the executor copes:

- `qsub` prints a bare SLURM id (`123`, also for arrays); sbatch itself reads the `#PBS` lines (`-N`,
  `-l nodes=N:ppn=C`, `-l mem`, `-l walltime`, `-t 0-N%P`, `-q`, `-A`, `-V`, `-r`), but the wrapper always
  passes its own `-o`/`-e`, so the executor repeats `-j oe -o LOG` on the `qsub` command line (for Torque).
  The wrapper pastes paths into a shell command: one more reason for the shell-safe folder rule.
- Inside the job only `SLURM_*` variables exist (no `PBS_JOBID`); the job environment reads those.
- `qstat -f` has no exit status (a finished job is `C`, reported `FINISHED`; results and exceptions still come
  from submitit's files) and lists array tasks under their own SLURM job ids without their index: each
  running sub-job writes its scheduler id to `%j_scheduler_id`, which the watcher uses to find its record; a
  sub-job not started yet has the state of the array. `qstat` matches ids as regular expressions, so bare ids
  are passed.
- `qdel 123[2]` deletes the whole array (the wrapper reads it as `123`): a single sub-job is cancelled with
  `scancel 123_2` instead.
- `qrerun` always fails (in 22.05 it calls `Slurm->requeue` without its state argument): under the wrappers
  the job requeues itself with `scontrol requeue`.
- There is no `qsig`: `job._interrupt()` uses `scancel --batch --signal=USR2`.

A job submitted with `-V` inherits the submitter's `PBS_ARRAY_INDEX`/`SLURM_ARRAY_TASK_ID` (a sweep started
from inside an array task): the script exports `HYDRAFLOW_PBS_ARRAY=0|1`, so array variables are only trusted
in array jobs.

### For sweep controllers

`poll_states(jobs)` returns the state of every job after one `qstat` call (per dialect), and
`cancel_jobs(jobs)` deletes them with one `qdel` (arrays as a whole). A job is finished when its state is not
in `INCOMPLETE_STATES`; besides submitit's `COMPLETED`/`FAILED`/`CANCELLED`/`TIMEOUT`/`OUT_OF_MEMORY` the
finished states include `FINISHED` and `MISSING`.
"""

from hydraflow.launch.pbs._executor import (
    PBSExecutor,
    PBSInfoWatcher,
    PBSJob,
    PBSJobEnvironment,
    TorqueJob,
    cancel_jobs,
    poll_states,
)
from hydraflow.launch.pbs._qstat import (
    INCOMPLETE_STATES,
    PBSJobId,
    map_state,
    parse_pbspro_json,
    parse_qstat_full,
)
from hydraflow.launch.pbs._script import PBSConfigError, ScriptSpec, make_script, make_spec

__all__ = [
    "INCOMPLETE_STATES",
    "PBSConfigError",
    "PBSExecutor",
    "PBSInfoWatcher",
    "PBSJob",
    "PBSJobEnvironment",
    "PBSJobId",
    "ScriptSpec",
    "TorqueJob",
    "cancel_jobs",
    "make_script",
    "make_spec",
    "map_state",
    "parse_pbspro_json",
    "parse_qstat_full",
    "poll_states",
]
