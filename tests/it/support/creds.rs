//! Real local parts for the credential sources of the SDK's default chain:
//! loopback servers that answer as the ECS/EKS container endpoint, EC2
//! instance metadata (IMDSv2), the SSO portal and an STS that refuses, the
//! SSO token cache that `aws sso login` writes, and shared config files.
//! Every piece of credential material they hand out holds [`MARK`], so one
//! check finds any of it in what ssmm printed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

use super::http::{Reply, Request, Server};

/// In every secret key, session token and bearer token below.
pub const MARK: &str = "CANARY-cred-5b1e";

/// A secret made of [`MARK`] and `what`, long enough for the no-leak checks.
pub fn secret(what: &str) -> String {
    format!("{MARK}-{what}")
}

/// A far expiry (RFC 3339), for credentials and tokens that stay valid.
pub const FAR: &str = "2099-01-01T00:00:00Z";
/// An expiry in the past.
pub const PAST: &str = "2020-01-01T00:00:00Z";

/// Credentials a source hands out: the access key id (which shows in the
/// `Authorization` header of what it signs) and its two secrets.
#[derive(Clone, Debug)]
pub struct Keys {
    pub id: String,
    pub secret: String,
    pub token: String,
}

impl Keys {
    /// `id` with a secret key and a session token named after `what`.
    pub fn new(id: &str, what: &str) -> Keys {
        Keys {
            id: id.to_owned(),
            secret: secret(&format!("{what}-secret")),
            token: secret(&format!("{what}-session")),
        }
    }

    /// The two secrets, for the no-leak checks.
    pub fn secrets(&self) -> [String; 2] {
        [self.secret.clone(), self.token.clone()]
    }

    /// The JSON both the container endpoint and IMDS answer with.
    fn json(&self) -> String {
        serde_json::json!({
            "Code": "Success",
            "LastUpdated": "2024-01-01T00:00:00Z",
            "Type": "AWS-HMAC",
            "AccessKeyId": self.id,
            "SecretAccessKey": self.secret,
            "Token": self.token,
            "Expiration": FAR,
        })
        .to_string()
    }
}

/// Writes an executable `#!/bin/sh` script.
pub fn script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// Writes `text` to `dir/name` and returns the path as a string.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The ECS/EKS container credentials endpoint at `/creds`: `keys` for a
/// request whose `Authorization` header is exactly `auth`, 401 for any
/// other (AWS's answer for a wrong token), with a body holding [`MARK`].
pub fn container(auth: &str, keys: &Keys) -> Server {
    let (auth, body) = (auth.to_owned(), keys.json());
    Server::start(move |req: &Request| {
        if req.path() != "/creds" {
            return Reply::new(404, "{}");
        }
        match req.header("authorization") {
            Some(a) if a == auth => Reply::json(&body),
            _ => Reply::new(
                401,
                format!(r#"{{"code":"AccessDenied","message":"{MARK} not allowed"}}"#),
            )
            .header("Content-Type", "application/json"),
        }
    })
}

/// EC2 instance metadata, IMDSv2 only: `PUT /latest/api/token` (with the
/// TTL header) gives `token`; the role list and the role's credentials
/// need it in `x-aws-ec2-metadata-token` (401 without, as IMDSv2 answers).
/// `role` `None`: an instance without a role (404 for the list).
pub fn imds(token: &str, role: Option<&str>, keys: &Keys) -> Server {
    let (token, role, body) = (token.to_owned(), role.map(str::to_owned), keys.json());
    Server::start(move |req: &Request| {
        let path = req.path();
        if path == "/latest/api/token" {
            return match (
                req.method.as_str(),
                req.header("x-aws-ec2-metadata-token-ttl-seconds"),
            ) {
                ("PUT", Some(ttl)) if ttl.parse::<u64>().is_ok() => Reply::new(200, token.clone())
                    .header("x-aws-ec2-metadata-token-ttl-seconds", ttl),
                ("PUT", _) => Reply::new(400, ""),
                _ => Reply::new(405, ""),
            };
        }
        if req.header("x-aws-ec2-metadata-token") != Some(token.as_str()) {
            return Reply::new(401, "");
        }
        let list = "/latest/meta-data/iam/security-credentials/";
        match (&role, path.strip_prefix(list)) {
            (Some(r), Some("")) => Reply::new(200, r.clone()),
            (Some(r), Some(name)) if name == r => Reply::json(&body),
            _ => Reply::new(404, ""),
        }
    })
}

/// The SSO portal's GetRoleCredentials (`GET /federation/credentials`):
/// `keys` for the bearer token `bearer`, 401 `UnauthorizedException` (the
/// portal's answer for an expired or unknown token) for any other.
pub fn sso_portal(bearer: &str, keys: &Keys) -> Server {
    let bearer = bearer.to_owned();
    let body = serde_json::json!({
        "roleCredentials": {
            "accessKeyId": keys.id,
            "secretAccessKey": keys.secret,
            "sessionToken": keys.token,
            "expiration": 4_070_908_800_000u64,
        }
    })
    .to_string();
    Server::start(move |req: &Request| {
        if req.path() != "/federation/credentials" {
            return Reply::new(404, "{}");
        }
        if req.header("x-amz-sso_bearer_token") == Some(bearer.as_str()) {
            Reply::json(&body)
        } else {
            Reply::new(401, r#"{"message":"Session token not found or invalid"}"#)
                .header("Content-Type", "application/json")
                .header("x-amzn-ErrorType", "UnauthorizedException")
        }
    })
}

/// An STS that refuses every call: 403 `AccessDenied` in STS's own XML, its
/// message holding [`MARK`] (AWS's names the caller).
pub fn sts_refusing() -> Server {
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
         <Error><Type>Sender</Type><Code>AccessDenied</Code>\
         <Message>User: {MARK} is not authorized to perform: sts:AssumeRole</Message></Error>\
         <RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    );
    Server::start(move |_req: &Request| {
        Reply::new(403, body.clone()).header("Content-Type", "text/xml")
    })
}

/// Where the SDK looks for the SSO token of `identifier` (the
/// `sso-session` name, or a legacy profile's `sso_start_url`):
/// `HOME/.aws/sso/cache/<sha1 hex of identifier>.json`.
pub fn sso_cache_path(home: &Path, identifier: &str) -> PathBuf {
    let hash: String = Sha1::digest(identifier.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    home.join(".aws/sso/cache").join(format!("{hash}.json"))
}

/// Writes the token cache entry `aws sso login` leaves: `token`, valid
/// until `expires_at`.
pub fn sso_cache(home: &Path, identifier: &str, token: &str, expires_at: &str) -> PathBuf {
    let path = sso_cache_path(home, identifier);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, sso_token_json(token, expires_at)).unwrap();
    path
}

/// A token cache entry as `aws sso login` writes it (without the refresh
/// fields: the SDK cannot refresh it).
pub fn sso_token_json(token: &str, expires_at: &str) -> String {
    serde_json::json!({
        "startUrl": "https://example.awsapps.com/start",
        "region": "us-east-1",
        "accessToken": token,
        "expiresAt": expires_at,
    })
    .to_string()
}
