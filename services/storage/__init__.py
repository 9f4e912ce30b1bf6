"""The storage: the journal, atomic files, the state-dir lock, the change log and the
in-memory state classes that commit every change through one path before applying it."""
