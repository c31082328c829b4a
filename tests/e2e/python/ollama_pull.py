"""Pulls MODEL through the official `ollama` client's streaming `pull` (BASE_URL MODEL);
prints each status and fails unless the last one is `success`."""

import sys

import ollama

client = ollama.Client(host=sys.argv[1])
statuses = []
for progress in client.pull(sys.argv[2], stream=True):
    statuses.append(progress.status)
    if progress.digest:
        assert progress.total and progress.completed is not None, progress
print(statuses)
assert statuses[0] == "pulling manifest", statuses
assert statuses[-1] == "success", statuses
print("success")
