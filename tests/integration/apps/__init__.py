"""Small applications the tests run in-process or in subprocesses (real instrumentations)."""
