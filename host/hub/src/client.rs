//! The hub's HTTP API, as `huggingface_hub` uses it:
//!
//! * `GET {endpoint}/api/models/{repo}/revision/{revision}`: the commit (`sha`) and the file
//!   list (`siblings[].rfilename`).
//! * `HEAD {endpoint}/{repo}/resolve/{commit}/{file}` (redirects not followed, except
//!   relative ones): `X-Repo-Commit`, `X-Linked-Etag` / `ETag` (the sha256 of an LFS file, the
//!   git blob sha1 of another), `X-Linked-Size` / `Content-Length`.
//! * `GET` of the same URL (redirects followed, usually a 302 to a blob URL on another host,
//!   where the token is not sent), with `Range: bytes=N-` to resume.
//!
//! Errors carry the hub's `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`,
//! `EntryNotFound`, `GatedRepo`) and `X-Error-Message`.

use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{HeaderMap, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_LENGTH, ETAG, RANGE};
use reqwest::redirect::Policy;
use reqwest::StatusCode;
use serde::Deserialize;

use crate::error::{HubError, Result};
use crate::settings::HubSettings;

/// How long a connection may stall (connecting, or between two reads) before it counts as
/// broken.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A repository at one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoInfo {
    /// The commit the revision points at.
    pub commit: String,
    /// Every file (repository paths).
    pub files: Vec<String>,
}

/// What the hub says about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// The normalized ETag: the sha256 (LFS) or git sha1 of the file.
    pub etag: String,
    /// Size in bytes.
    pub size: u64,
    /// The commit the file was resolved at.
    pub commit: Option<String>,
}

#[derive(Deserialize)]
struct RevisionBody {
    sha: Option<String>,
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(Deserialize)]
struct Sibling {
    rfilename: String,
}

/// A client of one hub.
pub struct HubClient {
    settings: HubSettings,
    /// HEAD and API calls: only relative (same host) redirects are followed.
    api: Client,
    /// Downloads: redirects followed (the token is dropped on another host).
    files: Client,
}

/// Percent-encodes a path segment (and `/` too when `keep_slash` is false).
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl HubClient {
    /// A client for `settings`' hub.
    pub fn new(settings: &HubSettings) -> Result<HubClient> {
        let agent = format!("shimmy-host/{}", env!("CARGO_PKG_VERSION"));
        let same_host = Policy::custom(|attempt| {
            let first = attempt.previous().first();
            let same = first.is_some_and(|f| {
                f.host_str() == attempt.url().host_str()
                    && f.port_or_known_default() == attempt.url().port_or_known_default()
            });
            if same && attempt.previous().len() < 10 {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let build = |policy: Policy| {
            Client::builder()
                .user_agent(agent.clone())
                .redirect(policy)
                .connect_timeout(STALL_TIMEOUT)
                .timeout(STALL_TIMEOUT)
                .build()
                .map_err(|e| HubError::Network {
                    url: settings.endpoint.clone(),
                    reason: format!("cannot start an HTTP client: {e}"),
                })
        };
        Ok(HubClient {
            settings: settings.clone(),
            api: build(same_host)?,
            files: build(Policy::limited(10))?,
        })
    }

    /// The settings in use.
    pub fn settings(&self) -> &HubSettings {
        &self.settings
    }

    fn authorized(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.settings.token {
            Some(token) => request.header(AUTHORIZATION, format!("Bearer {token}")),
            None => request,
        }
    }

    /// `{endpoint}/{repo}/resolve/{revision}/{file}`.
    pub fn resolve_url(&self, repo: &str, revision: &str, file: &str) -> String {
        format!(
            "{}/{repo}/resolve/{}/{}",
            self.settings.endpoint,
            encode(revision, false),
            encode(file, true)
        )
    }

    fn send(&self, url: &str, request: RequestBuilder) -> Result<Response> {
        request.send().map_err(|e| network(url, &e))
    }

    /// The commit `revision` points at and the repository's files.
    pub fn repo_info(&self, repo: &str, revision: &str) -> Result<RepoInfo> {
        let url = format!(
            "{}/api/models/{repo}/revision/{}",
            self.settings.endpoint,
            encode(revision, false)
        );
        let response = self.send(&url, self.authorized(self.api.get(&url)))?;
        let response = check(
            repo,
            revision,
            None,
            &self.settings.endpoint,
            &url,
            response,
        )?;
        let body: RevisionBody = response.json().map_err(|e| HubError::Protocol {
            url: url.clone(),
            reason: format!("the repository listing is not the hub's JSON: {e}"),
        })?;
        let commit = body.sha.ok_or_else(|| HubError::Protocol {
            url: url.clone(),
            reason: "the repository listing has no commit (\"sha\")".into(),
        })?;
        Ok(RepoInfo {
            commit,
            files: body.siblings.into_iter().map(|s| s.rfilename).collect(),
        })
    }

    /// The ETag and size of `file` at `revision` (a HEAD request).
    pub fn file_meta(&self, repo: &str, revision: &str, file: &str) -> Result<FileMeta> {
        let url = self.resolve_url(repo, revision, file);
        let request = self
            .authorized(self.api.head(&url))
            .header(ACCEPT_ENCODING, "identity");
        let response = self.send(&url, request)?;
        let redirect = response.status().is_redirection();
        let response = if redirect {
            response
        } else {
            check(
                repo,
                revision,
                Some(file),
                &self.settings.endpoint,
                &url,
                response,
            )?
        };
        let headers = response.headers();
        let etag = header(headers, "x-linked-etag")
            .or_else(|| header(headers, ETAG.as_str()))
            .map(|e| normalize_etag(&e))
            .filter(|e| !e.is_empty())
            .ok_or_else(|| HubError::Protocol {
                url: url.clone(),
                reason: "the hub sent no ETag for the file, so the download cannot be verified or cached".into(),
            })?;
        let size = header(headers, "x-linked-size")
            .or_else(|| {
                (!redirect)
                    .then(|| header(headers, CONTENT_LENGTH.as_str()))
                    .flatten()
            })
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| HubError::Protocol {
                url: url.clone(),
                reason: "the hub sent no size (X-Linked-Size or Content-Length) for the file"
                    .into(),
            })?;
        Ok(FileMeta {
            etag,
            size,
            commit: header(headers, "x-repo-commit"),
        })
    }

    /// Starts downloading `file` from byte `offset` on. Returns the response and whether the
    /// server honoured the range (`false`: it sends the whole file from byte 0).
    pub fn open(
        &self,
        repo: &str,
        revision: &str,
        file: &str,
        offset: u64,
    ) -> Result<(Response, bool)> {
        let url = self.resolve_url(repo, revision, file);
        let mut request = self
            .authorized(self.files.get(&url))
            .header(ACCEPT_ENCODING, "identity");
        if offset > 0 {
            request = request.header(RANGE, format!("bytes={offset}-"));
        }
        let response = self.send(&url, request)?;
        let status = response.status();
        if offset > 0 && status == StatusCode::PARTIAL_CONTENT {
            return Ok((response, true));
        }
        let response = check(
            repo,
            revision,
            Some(file),
            &self.settings.endpoint,
            &url,
            response,
        )?;
        Ok((response, false))
    }
}

fn network(url: &str, e: &reqwest::Error) -> HubError {
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reason = format!("{reason}: {s}");
        source = s.source();
    }
    HubError::Network {
        url: url.to_string(),
        reason,
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `W/"abc"` and `"abc"` become `abc`.
pub fn normalize_etag(etag: &str) -> String {
    etag.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_string()
}

/// Turns an error answer into the matching [`HubError`].
fn check(
    repo: &str,
    revision: &str,
    file: Option<&str>,
    endpoint: &str,
    url: &str,
    response: Response,
) -> Result<Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let code = header(response.headers(), "x-error-code").unwrap_or_default();
    let hub_message = header(response.headers(), "x-error-message");
    let code_u16 = status.as_u16();
    match code.as_str() {
        "RepoNotFound" => {
            return Err(HubError::RepoNotFound {
                repo: repo.to_string(),
                endpoint: endpoint.to_string(),
            })
        }
        "RevisionNotFound" => {
            return Err(HubError::RevisionNotFound {
                repo: repo.to_string(),
                revision: revision.to_string(),
            })
        }
        "EntryNotFound" => {
            return Err(HubError::FileNotFound {
                repo: repo.to_string(),
                file: file.unwrap_or_default().to_string(),
                available: "see the repository".into(),
            })
        }
        "GatedRepo" => {
            return Err(HubError::Gated {
                repo: repo.to_string(),
            })
        }
        _ => {}
    }
    if matches!(code_u16, 401 | 403) {
        return Err(HubError::Unauthorized {
            repo: repo.to_string(),
            endpoint: endpoint.to_string(),
            status: code_u16,
        });
    }
    if code_u16 == 404 && file.is_none() {
        return Err(HubError::RepoNotFound {
            repo: repo.to_string(),
            endpoint: endpoint.to_string(),
        });
    }
    let message = match hub_message {
        Some(m) => m,
        None => {
            let body = response.text().unwrap_or_default();
            let body: String = body.chars().take(200).collect();
            if body.trim().is_empty() {
                status.canonical_reason().unwrap_or("error").to_string()
            } else {
                body.trim().to_string()
            }
        }
    };
    Err(HubError::Http {
        url: url.to_string(),
        status: code_u16,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_and_urls() {
        assert_eq!(normalize_etag("W/\"abc\""), "abc");
        assert_eq!(normalize_etag("\"abc\""), "abc");
        let s = HubSettings {
            endpoint: "http://h".into(),
            token: None,
            cache: "/c".into(),
        };
        let c = HubClient::new(&s).unwrap();
        assert_eq!(
            c.resolve_url("o/r", "refs/pr/1", "sub/a b+.gguf"),
            "http://h/o/r/resolve/refs%2Fpr%2F1/sub/a%20b%2B.gguf"
        );
    }
}
