"""The Hugging Face cache shimmy-host writes is the one `huggingface_hub` reads and writes
(HF_ENDPOINT and HF_HUB_CACHE come from the environment). Usage:

  hf_cache_interop.py read REPO FILE      offline: finds FILE in the cache, no warnings
  hf_cache_interop.py download REPO FILE  downloads FILE from HF_ENDPOINT into the cache

Prints the snapshot path."""

import sys

from huggingface_hub import hf_hub_download, scan_cache_dir

mode, repo, file = sys.argv[1:4]
if mode == "read":
    path = hf_hub_download(repo, file, local_files_only=True)
    info = scan_cache_dir()
    assert not info.warnings, info.warnings
    (entry,) = [r for r in info.repos if r.repo_id == repo]
    files = [f.file_name for rev in entry.revisions for f in rev.files]
    assert file.rsplit("/", 1)[-1] in files, files
else:
    path = hf_hub_download(repo, file)
print(path)
