//! Form bodies (`application/x-www-form-urlencoded`, as RFC 6749 §3.2
//! requires for the token endpoint), with the body limit mapped to a JSON
//! 413 and repeated parameters refused (RFC 6749 §3.1/§3.2: "Request and
//! response parameters MUST NOT be included more than once").

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use holdfast_core::OAuthErrorCode;

use crate::http::error::ApiError;

/// The decoded pairs of a form body, in order, repeats included.
#[derive(Debug, Clone, Default)]
pub struct FormPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for FormPairs {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(ApiError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(OAuthErrorCode::RequestTooLarge, "request body too large")
            } else {
                ApiError::invalid_request("the request body could not be read")
            }
        })?;
        Ok(Self(form_urlencoded::parse(&bytes).into_owned().collect()))
    }
}

impl FormPairs {
    /// The pairs as borrowed strings.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }
}

/// A form body whose parameters each appear at most once.
#[derive(Debug, Clone, Default)]
pub struct FormParams(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequest<S> for FormParams {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let FormPairs(pairs) = FormPairs::from_request(req, state).await?;
        let mut map = HashMap::with_capacity(pairs.len());
        for (key, value) in pairs {
            if map.contains_key(&key) {
                return Err(ApiError::invalid_request(format!(
                    "parameter {key} appears more than once"
                )));
            }
            map.insert(key, value);
        }
        Ok(Self(map))
    }
}

impl FormParams {
    /// A non-empty parameter (RFC 6749 §3.1: empty means omitted).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}
