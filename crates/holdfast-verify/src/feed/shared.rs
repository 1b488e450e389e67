//! What the running feed shares between its poll task and the checks: the
//! state behind one lock, the journal, the counters; and the processing of
//! one poll response (validate every SET, then apply them all under one
//! write lock).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use super::journal;
use super::set::{self, Event, Expect, SetError, ValidSet};
use super::state::{FeedState, Kind, Outcome, Record, jti_tag, key, secs};
use super::{FeedError, FeedStats, LEEWAY_MARGIN, dur_secs};
use crate::claims::AccessTokenClaims;
use crate::clock::Clock;
use crate::error::AuthError;
use crate::jwks::{KeyCache, VerifyKey};
use crate::revocation::{BoxFuture, RevocationError, RevocationStatus};

/// The options the running feed reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(super) staleness_bound: i64,
    pub(super) fail_open: bool,
    pub(super) max_token_lifetime: i64,
}

/// A key source for SET signatures: the verifier's JWKS cache, or a fixed
/// set in tests.
pub(crate) trait Keys: Send + Sync {
    /// The key named `kid`.
    fn get<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<Arc<VerifyKey>, AuthError>>;
}

impl Keys for KeyCache {
    /// As the verifier's lookup, except that an unknown `kid` while the
    /// latest JWKS fetch failed is "keys unavailable" (the SET is deferred
    /// and comes again), not "unknown key" (refused for good, RFC 8935
    /// §2.4 `invalid_key`): a rotation during a JWKS outage must not
    /// lose a revocation.
    fn get<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<Arc<VerifyKey>, AuthError>> {
        Box::pin(async move {
            match KeyCache::get(self, kid).await {
                Err(AuthError::UnknownKey) if self.last_fetch_failed() => {
                    Err(AuthError::KeysUnavailable)
                }
                other => other,
            }
        })
    }
}

/// What the feed's state and the poll loop share.
pub(crate) struct Shared {
    pub(super) issuer: String,
    pub(super) client_id: String,
    pub(super) config: Config,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) state: RwLock<FeedState>,
    /// The state file, once opened. Used on blocking threads only.
    pub(super) journal: OnceLock<Arc<Mutex<journal::Journal>>>,
    /// Clock seconds of the last successful poll; `i64::MIN` before one.
    pub(super) last_poll: AtomicI64,
    pub(super) applied: AtomicU64,
    pub(super) duplicates: AtomicU64,
    pub(super) rejected: AtomicU64,
    pub(super) stream_id: OnceLock<String>,
    /// The `state` of the verification requested at start.
    pub(super) verification_state: OnceLock<String>,
    pub(super) verified: AtomicBool,
}

/// One poll response's SETs, processed.
#[derive(Debug, Default)]
pub(crate) struct Processed {
    /// `jti`s to acknowledge once `records` are journaled.
    pub acks: Vec<String>,
    /// `jti`s refused, with why.
    pub errs: Vec<(String, SetError)>,
    /// Records that changed the state (to journal).
    pub records: Vec<Record>,
    /// SETs neither acknowledged nor refused (keys unavailable): the
    /// transmitter delivers them again.
    pub deferred: usize,
}

impl Shared {
    pub(super) fn new(
        issuer: String,
        client_id: String,
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            issuer,
            client_id,
            config,
            clock,
            state: RwLock::new(FeedState::default()),
            journal: OnceLock::new(),
            last_poll: AtomicI64::new(i64::MIN),
            applied: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            stream_id: OnceLock::new(),
            verification_state: OnceLock::new(),
            verified: AtomicBool::new(false),
        }
    }

    pub(super) fn read_state(&self) -> std::sync::RwLockReadGuard<'_, FeedState> {
        // A panic under the write lock cannot leave a map half-updated in a
        // way that matters here (entries are plain values); keep serving.
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, FeedState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn stats(&self) -> FeedStats {
        let last = self.last_poll.load(Ordering::Acquire);
        let state = self.read_state();
        FeedStats {
            applied: self.applied.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            last_successful_poll: (last != i64::MIN).then_some(last),
            stream_id: self.stream_id.get().cloned(),
            verified: self.verified.load(Ordering::Relaxed),
            entries: state.len(),
            memory_bytes: state.heap_bytes(),
        }
    }

    pub(super) fn check(
        &self,
        claims: &AccessTokenClaims,
    ) -> Result<RevocationStatus, RevocationError> {
        let now = self.clock.now();
        let revoked = self.read_state().is_revoked(
            &claims.jti,
            claims.sid.as_deref(),
            &claims.iss,
            &claims.sub,
            claims.iat,
            now,
        );
        if revoked {
            return Ok(RevocationStatus::Revoked);
        }
        let last = self.last_poll.load(Ordering::Acquire);
        let age = now.saturating_sub(last);
        if age > self.config.staleness_bound && !self.config.fail_open {
            return Err(RevocationError(if last == i64::MIN {
                "revocation feed has not polled yet".to_owned()
            } else {
                format!("revocation feed is stale: last successful poll {age} s ago")
            }));
        }
        Ok(RevocationStatus::Active)
    }

    pub(super) fn count_rejected(&self, n: usize) {
        self.rejected.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(super) fn mark_polled(&self) {
        self.last_poll.store(self.clock.now(), Ordering::Release);
    }

    pub(super) async fn open_journal(&self, path: PathBuf) -> Result<(), FeedError> {
        let now = self.clock.now();
        let mut state = FeedState::default();
        let (journal, loaded) = tokio::task::spawn_blocking(move || {
            journal::Journal::open(&path, &mut state, now).map(|(j, l)| (j, l, state))
        })
        .await
        .map_err(|e| FeedError::StateFile(e.to_string()))?
        .map(|(j, l, s)| {
            *self.write_state() = s;
            (j, l)
        })
        .map_err(|e| FeedError::StateFile(e.to_string()))?;
        tracing::info!(
            applied = loaded.applied,
            dropped = loaded.dropped,
            "holdfast-verify: revocation feed state file loaded"
        );
        self.journal
            .set(Arc::new(Mutex::new(journal)))
            .map_err(|_| FeedError::StateFile("opened twice".into()))
    }

    /// Appends `records` to the journal (if any) and waits for the disk.
    /// Any failure, including a poisoned lock, is an error: the caller then
    /// holds its acknowledgements back.
    pub(super) async fn journal(&self, records: Vec<Record>) -> std::io::Result<()> {
        let Some(journal) = self.journal.get().cloned() else {
            return Ok(());
        };
        if records.is_empty() {
            return Ok(());
        }
        tokio::task::spawn_blocking(move || {
            journal
                .lock()
                .map_err(|_| std::io::Error::other("state file lock poisoned"))?
                .append(&records)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Drops expired entries, then compacts the journal if it outgrew them
    /// (on a blocking thread, holding only a read lock: checks go on).
    pub(super) async fn prune(self: &Arc<Self>) {
        let now = self.clock.now();
        let removed = self.write_state().prune(now);
        tracing::debug!(removed, "holdfast-verify: revocation feed pruned");
        let Some(journal) = self.journal.get().cloned() else {
            return;
        };
        let shared = Arc::clone(self);
        let result = tokio::task::spawn_blocking(move || {
            let mut journal = journal
                .lock()
                .map_err(|_| std::io::Error::other("state file lock poisoned"))?;
            let state = shared.read_state();
            journal.compact_if_large(&state)
        })
        .await
        .map_err(std::io::Error::other);
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(e)) | Err(e) => {
                tracing::warn!(error = %e, "holdfast-verify: state file compaction failed");
            }
        }
    }

    /// Validates SETs (`(jti, compact)` pairs: the name a poll response
    /// filed each under, none for a push) with keys from `keys`, then
    /// applies them under one write lock.
    pub(crate) async fn process(
        &self,
        keys: &dyn Keys,
        sets: Vec<(Option<String>, String)>,
    ) -> Processed {
        let expect = Expect {
            issuer: &self.issuer,
            audience: &self.client_id,
        };
        let mut out = Processed::default();
        let mut valid = Vec::with_capacity(sets.len());
        for (named, compact) in sets {
            let jti = named.clone().unwrap_or_default();
            let header = match set::parse_header(&compact) {
                Ok(h) => h,
                Err(e) => {
                    out.errs.push((jti, e));
                    continue;
                }
            };
            let key = match keys.get(&header.kid).await {
                Ok(k) => k,
                Err(AuthError::UnknownKey) => {
                    out.errs.push((jti, SetError::UnknownKey));
                    continue;
                }
                Err(e) => {
                    // Keys unavailable: neither acknowledge nor refuse; the
                    // SET comes again once the JWKS can be fetched.
                    tracing::warn!(error = %e, jti, "holdfast-verify: SET deferred");
                    out.deferred += 1;
                    continue;
                }
            };
            match set::validate(&header, &key, &expect, named.as_deref()) {
                Ok(v) => valid.push(v),
                Err(e) => out.errs.push((jti, e)),
            }
        }
        for (jti, e) in &out.errs {
            tracing::warn!(jti, error = %e, code = e.code(), "holdfast-verify: SET refused");
        }
        self.rejected
            .fetch_add(out.errs.len() as u64, Ordering::Relaxed);
        let now = self.clock.now();
        let mut applied = 0u64;
        let mut duplicates = 0u64;
        {
            let mut state = self.write_state();
            for v in &valid {
                let record = self.record(v);
                match state.apply(record, now) {
                    Outcome::New => {
                        out.records.push(record);
                        applied += 1;
                    }
                    Outcome::NoChange => applied += 1,
                    Outcome::Duplicate => duplicates += 1,
                }
            }
        }
        self.applied.fetch_add(applied, Ordering::Relaxed);
        self.duplicates.fetch_add(duplicates, Ordering::Relaxed);
        for v in valid {
            self.observe(&v);
            out.acks.push(v.jti);
        }
        out
    }

    /// What a validated SET is remembered as.
    pub(super) fn record(&self, v: &ValidSet) -> Record {
        let margin = dur_secs(LEEWAY_MARGIN);
        let lifetime = self.config.max_token_lifetime.saturating_add(margin);
        let tag = jti_tag(&v.jti);
        let (kind, key, until, not_before) = match &v.event {
            Event::SessionRevoked { sid, at } => (
                Kind::Session,
                key(Kind::Session, &[sid]),
                at.saturating_add(lifetime),
                0,
            ),
            Event::NotBefore { iss, sub, at } => (
                Kind::User,
                key(Kind::User, &[iss, sub]),
                at.saturating_add(lifetime),
                secs(*at),
            ),
            Event::AccessTokenRevoked { jti, exp } => (
                Kind::Token,
                key(Kind::Token, &[jti]),
                exp.saturating_add(margin),
                0,
            ),
            Event::CredentialChange
            | Event::Verification { .. }
            | Event::StreamUpdated { .. }
            | Event::Unknown(_) => (
                Kind::Other,
                key(Kind::Other, &[&v.jti]),
                v.iat.saturating_add(lifetime),
                0,
            ),
        };
        Record {
            kind,
            key,
            until: secs(until),
            tag,
            not_before,
        }
    }

    /// Logs the events that are about the stream itself.
    pub(super) fn observe(&self, v: &ValidSet) {
        match &v.event {
            Event::Verification { state } => {
                let ours = state.is_some()
                    && self.verification_state.get().map(String::as_str) == state.as_deref();
                if ours {
                    self.verified.store(true, Ordering::Relaxed);
                    tracing::info!("holdfast-verify: revocation feed stream verified");
                } else {
                    // SSF §8.1.4.1 says a wrong `state` SHOULD be answered
                    // with `invalid_state`, but a transmitter "MAY disable
                    // or suspend" a stream that fails verification, and an
                    // earlier process's request (or an unrequested event,
                    // "at any time") carries another state: acknowledge.
                    tracing::info!(
                        ?state,
                        "holdfast-verify: verification SET not requested by this process"
                    );
                }
            }
            Event::StreamUpdated { status, reason } => {
                tracing::warn!(
                    ?status,
                    ?reason,
                    "holdfast-verify: stream updated by the transmitter"
                );
            }
            Event::Unknown(t) => {
                tracing::debug!(event_type = %t, "holdfast-verify: unknown event type ignored");
            }
            _ => {}
        }
    }
}
