"""Knowledge base: documents a team adds to Tavus from a file or a web address.

The file side: `intake` judges a file by its content (format, size, damage), strips what metadata
the format allows, and checks and probes a web address; `upload` puts a file in the team bucket and
signs the GET that Tavus downloads it from; `records` keeps the team's note of each document added
here (who, when, from what) as JSON beside the ledger. The Tavus side: `status` says what a
document's status and error mean, `shared` keeps one list of the account's documents per server.
The Tavus calls themselves live in lib/tavus.
"""
