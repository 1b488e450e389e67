//! `htu` comparison, [RFC 9449 §4.3 step 9](https://www.rfc-editor.org/rfc/rfc9449#section-4.3):
//! "the htu claim matches the HTTP URI value for the HTTP request in which
//! the JWT was received, ignoring any query and fragment parts", after the
//! syntax-based normalisation of RFC 3986 §6.2.2 and scheme-based
//! normalisation of §6.2.3 (as the `url` crate parses).
//!
//! Not supported: percent-encoding normalisation (RFC 3986 §6.2.2.1,
//! §6.2.2.2): URIs that differ only in how they percent-encode compare
//! unequal.

use url::Url;

/// Normalises an HTTP(S) URI for `htu` comparison (RFC 9449 §4.3 step 9,
/// with RFC 3986 §6.2.2 and §6.2.3 normalisation as the `url` crate applies
/// it: scheme and host lower-cased, default port dropped, dot segments
/// removed, empty path made `/`), then drops query and fragment.
pub fn normalize_htu(uri: &Url) -> Url {
    let mut u = uri.clone();
    u.set_query(None);
    u.set_fragment(None);
    u
}

/// The part of a parsed (hence normalised) URL that `htu` compares:
/// everything up to the end of the path, without cloning.
pub(crate) fn htu_part(uri: &Url) -> &str {
    &uri[..url::Position::AfterPath]
}
