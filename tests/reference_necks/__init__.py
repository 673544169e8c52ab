"""Independent re-implementations of four published detection necks, written from their original sources.

Each module names the repository, file and commit it follows. They import only torch or paddle (and the
standard library), so that they can check fpnprof's importer against code that shares nothing with it.
"""
