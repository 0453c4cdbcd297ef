"""`migrator rehearse`: a plan run whole against throwaway targets, optionally killed part-way and
resumed, then verified, with a result that reports render as Markdown and JUnit XML.

    workspace.py  the rehearsal's own plan file: throwaway targets and state, sampled roots
    sample.py     the SQL that narrows a root's condition to N rows chosen by a seed
    interrupt.py  a child `migrator run` killed with SIGKILL after K units, then resumed
    compare.py    what a finished target holds, as digests two targets can be compared by
    result.py     the result: checks, counts, timings; read back from a report; compared with a baseline
    run.py        the whole rehearsal, in order
"""
