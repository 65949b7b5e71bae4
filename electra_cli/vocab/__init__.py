"""The vocabulary: training our WordPiece vocab folder, and loading published HF folders' vocabularies;
`load` is the one door later stages use, whichever kind of folder they are given.
"""
