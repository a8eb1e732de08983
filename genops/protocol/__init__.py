"""The text protocols a model (or a person answering a manual request) writes back.

    files.py           whole files and deletions: <file path="..."> ... </file>, <delete .../>
    edits.py           SEARCH/REPLACE edit blocks for patch rounds
    blueprint_json.py  the blueprint answer's JSON object, fenced or bare
    answers.py         which of these shapes answers a request, by its label

Synthesis, patch and the providers (the manual provider shows the help text and checks answers
before archiving them) all use one definition from here.
"""
