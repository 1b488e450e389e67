//! What the feed remembers: revoked sessions, revoked access tokens and
//! per-user not-before stamps, each until no token it could refuse can still
//! be valid; and, per entry, a tag of the `jti` of the SET that made it, so
//! a redelivered SET (RFC 8936 §2.4: SETs not acknowledged are delivered
//! again) is recognised and counted instead of applied twice.
//!
//! Keys are never the raw identifiers: a session id, token id or user is
//! kept as the first 128 bits of SHA-256 over a domain-separated encoding
//! ([`key`]). With n entries the chance that any two collide is about
//! n² / 2¹²⁹: for ten million entries, 1.5 × 10⁻²⁵. A collision could only
//! refuse a token that should pass, never accept one that should not. SHA-256
//! needs no secret key to keep an issuer (or anyone) from crafting
//! collisions, so the journal can store the same keys across restarts.
//!
//! Entries are 24 bytes (16-byte key, 32-bit expiry, 32-bit `jti` tag) in
//! std's SwissTable (`hashbrown`), which adds one control byte per bucket;
//! [`FeedState::heap_bytes`] gives the figure. Expired entries are removed by
//! [`FeedState::prune`], which the poll loop calls periodically, never on a
//! check. Times are Unix seconds as `u32` (good until 2106), clamped.

use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// A 128-bit digest of an identifier (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Key(pub(crate) [u8; 16]);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The key is already a uniform digest: its first 64 bits are as good
        // a hash as any, and cost nothing.
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(first));
    }
}

/// Passes a [`Key`]'s own bits through (see `impl Hash for Key`).
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached if something other than `Key` is hashed with it.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type KeyMap<V> = HashMap<Key, V, BuildHasherDefault<KeyHasher>>;

/// What a key is the digest of; part of the hashed input, so a session id
/// and a token id with the same text never share a key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    /// A session (`sid`) that was revoked.
    Session,
    /// An access token (`jti`) that was revoked.
    Token,
    /// A user (`iss`, `sub`) whose older tokens are refused.
    User,
    /// An event with no effect on tokens, remembered only to dedupe it;
    /// keyed by its SET's `jti`.
    Other,
}

impl Kind {
    fn letter(self) -> char {
        match self {
            Kind::Session => 's',
            Kind::Token => 't',
            Kind::User => 'u',
            Kind::Other => 'o',
        }
    }

    fn from_letter(c: &str) -> Option<Self> {
        Some(match c {
            "s" => Kind::Session,
            "t" => Kind::Token,
            "u" => Kind::User,
            "o" => Kind::Other,
            _ => return None,
        })
    }
}

/// The digest of `parts` for `kind`: SHA-256 over a version label, the kind
/// and each part length-prefixed, truncated to 128 bits.
pub(crate) fn key(kind: Kind, parts: &[&str]) -> Key {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(b"holdfast-verify/feed/v1\0");
    ctx.update(&[kind.letter() as u8]);
    for part in parts {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part.as_bytes());
    }
    let digest = ctx.finish();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest.as_ref()[..16]);
    Key(out)
}

/// A 32-bit tag of a SET's `jti`, stored with the entry the SET made.
pub(crate) fn jti_tag(jti: &str) -> u32 {
    let k = key(Kind::Other, &[jti]);
    u32::from_le_bytes([k.0[12], k.0[13], k.0[14], k.0[15]])
}

/// Unix seconds as stored: clamped into `u32`.
pub(crate) fn secs(t: i64) -> u32 {
    u32::try_from(t.max(0)).unwrap_or(u32::MAX)
}

/// One applied event, as remembered and as journaled (one line each).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Record {
    pub kind: Kind,
    pub key: Key,
    /// Kept until this time (exclusive).
    pub until: u32,
    /// [`jti_tag`] of the SET.
    pub tag: u32,
    /// For [`Kind::User`]: tokens with `iat` strictly before this are
    /// refused. 0 otherwise.
    pub not_before: u32,
}

impl Record {
    /// The journal line, without its newline:
    /// `kind key-hex until tag-hex not_before`.
    pub(crate) fn to_line(self) -> String {
        let mut s = String::with_capacity(64);
        s.push(self.kind.letter());
        s.push(' ');
        for b in self.key.0 {
            s.push_str(&format!("{b:02x}"));
        }
        s.push_str(&format!(
            " {} {:08x} {}",
            self.until, self.tag, self.not_before
        ));
        s
    }

    /// Parses a line written by [`Record::to_line`]; `None` for anything
    /// else (such as the torn last line of a crash).
    pub(crate) fn from_line(line: &str) -> Option<Self> {
        let mut fields = line.split(' ');
        let kind = Kind::from_letter(fields.next()?)?;
        let hex = fields.next()?;
        if hex.len() != 32 || !hex.is_ascii() {
            return None;
        }
        let mut key = [0u8; 16];
        // In bounds: `hex` is 32 ASCII bytes, so every slice is on a char
        // boundary and inside it.
        for (i, b) in key.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        let until = fields.next()?.parse().ok()?;
        let tag = fields.next().filter(|t| t.len() == 8)?;
        let tag = u32::from_str_radix(tag, 16).ok()?;
        let not_before = fields.next()?.parse().ok()?;
        if fields.next().is_some() {
            return None;
        }
        Some(Self {
            kind,
            key: Key(key),
            until,
            tag,
            not_before,
        })
    }
}

/// What applying a record did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Outcome {
    /// The state changed: journal the record.
    New,
    /// The same SET was applied before and changed nothing now.
    Duplicate,
    /// Another SET already said as much (or the record had expired).
    NoChange,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    until: u32,
    tag: u32,
}

#[derive(Clone, Copy, Debug)]
struct UserEntry {
    not_before: u32,
    until: u32,
    tag: u32,
}

/// The feed's memory. Not locked itself: the feed holds it in one `RwLock`,
/// applies a whole batch under one write lock and checks under read locks.
#[derive(Default)]
pub(crate) struct FeedState {
    sessions: KeyMap<Entry>,
    tokens: KeyMap<Entry>,
    users: KeyMap<UserEntry>,
    others: KeyMap<Entry>,
}

impl FeedState {
    /// Applies one record at `now`. Records already expired are not stored.
    pub(crate) fn apply(&mut self, r: Record, now: i64) -> Outcome {
        if i64::from(r.until) <= now {
            return Outcome::NoChange;
        }
        let map = match r.kind {
            Kind::Session => &mut self.sessions,
            Kind::Token => &mut self.tokens,
            Kind::Other => &mut self.others,
            Kind::User => return self.apply_user(r),
        };
        match map.entry(r.key) {
            MapEntry::Vacant(v) => {
                v.insert(Entry {
                    until: r.until,
                    tag: r.tag,
                });
                Outcome::New
            }
            MapEntry::Occupied(mut o) => {
                let e = o.get_mut();
                if r.until > e.until {
                    *e = Entry {
                        until: r.until,
                        tag: r.tag,
                    };
                    Outcome::New
                } else if e.tag == r.tag {
                    Outcome::Duplicate
                } else {
                    Outcome::NoChange
                }
            }
        }
    }

    /// Not-before: keep the later of two stamps, and the later expiry.
    fn apply_user(&mut self, r: Record) -> Outcome {
        match self.users.entry(r.key) {
            MapEntry::Vacant(v) => {
                v.insert(UserEntry {
                    not_before: r.not_before,
                    until: r.until,
                    tag: r.tag,
                });
                Outcome::New
            }
            MapEntry::Occupied(mut o) => {
                let e = o.get_mut();
                if r.not_before > e.not_before || r.until > e.until {
                    *e = UserEntry {
                        not_before: e.not_before.max(r.not_before),
                        until: e.until.max(r.until),
                        tag: r.tag,
                    };
                    Outcome::New
                } else if e.tag == r.tag {
                    Outcome::Duplicate
                } else {
                    Outcome::NoChange
                }
            }
        }
    }

    /// Whether a token with these claims is refused at `now`: its `jti` was
    /// revoked, its session was, or its user's not-before stamp is after
    /// its `iat` (strictly: a token issued in the stamp's second passes).
    pub(crate) fn is_revoked(
        &self,
        jti: &str,
        sid: Option<&str>,
        iss: &str,
        sub: &str,
        iat: i64,
        now: i64,
    ) -> bool {
        let live = |until: u32| i64::from(until) > now;
        if self
            .tokens
            .get(&key(Kind::Token, &[jti]))
            .is_some_and(|e| live(e.until))
        {
            return true;
        }
        if let Some(sid) = sid
            && self
                .sessions
                .get(&key(Kind::Session, &[sid]))
                .is_some_and(|e| live(e.until))
        {
            return true;
        }
        self.users
            .get(&key(Kind::User, &[iss, sub]))
            .is_some_and(|e| live(e.until) && iat < i64::from(e.not_before))
    }

    /// Removes entries expired at `now`, and gives memory back once a map
    /// holds far fewer entries than it has room for.
    pub(crate) fn prune(&mut self, now: i64) -> usize {
        fn prune_map<V>(map: &mut KeyMap<V>, live: impl Fn(&V) -> bool) -> usize {
            let before = map.len();
            map.retain(|_, v| live(v));
            if map.capacity() > 4 * map.len().max(1024) {
                map.shrink_to_fit();
            }
            before - map.len()
        }
        let live = |until: u32| i64::from(until) > now;
        prune_map(&mut self.sessions, |e| live(e.until))
            + prune_map(&mut self.tokens, |e| live(e.until))
            + prune_map(&mut self.users, |e| live(e.until))
            + prune_map(&mut self.others, |e| live(e.until))
    }

    /// Every live entry as a record, for rewriting the journal compacted.
    pub(crate) fn records(&self) -> impl Iterator<Item = Record> + '_ {
        fn plain(kind: Kind, map: &KeyMap<Entry>) -> impl Iterator<Item = Record> + '_ {
            map.iter().map(move |(k, e)| Record {
                kind,
                key: *k,
                until: e.until,
                tag: e.tag,
                not_before: 0,
            })
        }
        plain(Kind::Session, &self.sessions)
            .chain(plain(Kind::Token, &self.tokens))
            .chain(plain(Kind::Other, &self.others))
            .chain(self.users.iter().map(|(k, e)| Record {
                kind: Kind::User,
                key: *k,
                until: e.until,
                tag: e.tag,
                not_before: e.not_before,
            }))
    }

    /// Number of entries of every kind.
    pub(crate) fn len(&self) -> usize {
        self.sessions.len() + self.tokens.len() + self.users.len() + self.others.len()
    }

    /// Bytes the maps hold on the heap: per bucket one `(Key, V)` slot and
    /// one control byte, plus one group of trailing control bytes. The
    /// SwissTable keeps at most 7/8 of its buckets full and bucket counts
    /// are powers of two, so `buckets = capacity × 8 / 7` for capacity ≥ 7.
    pub(crate) fn heap_bytes(&self) -> usize {
        fn bytes<V>(map: &KeyMap<V>) -> usize {
            let cap = map.capacity();
            if cap == 0 {
                return 0;
            }
            let buckets = if cap < 7 {
                (cap + 1).next_power_of_two()
            } else {
                cap / 7 * 8
            };
            buckets * (std::mem::size_of::<(Key, V)>() + 1) + 16
        }
        bytes(&self.sessions) + bytes(&self.tokens) + bytes(&self.users) + bytes(&self.others)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn session(sid: &str, until: i64, jti: &str) -> Record {
        Record {
            kind: Kind::Session,
            key: key(Kind::Session, &[sid]),
            until: secs(until),
            tag: jti_tag(jti),
            not_before: 0,
        }
    }

    fn user(sub: &str, not_before: i64, until: i64, jti: &str) -> Record {
        Record {
            kind: Kind::User,
            key: key(Kind::User, &["https://as/t/a", sub]),
            until: secs(until),
            tag: jti_tag(jti),
            not_before: secs(not_before),
        }
    }

    #[test]
    fn caep_session_revoked_refuses_tokens_of_that_session_until_expiry() {
        let mut s = FeedState::default();
        assert_eq!(
            s.apply(session("sid-1", NOW + 3600, "j1"), NOW),
            Outcome::New
        );
        let revoked = |s: &FeedState, sid, now| s.is_revoked("at-1", Some(sid), "i", "u", NOW, now);
        assert!(revoked(&s, "sid-1", NOW));
        assert!(!revoked(&s, "sid-2", NOW));
        assert!(revoked(&s, "sid-1", NOW + 3599));
        assert!(!revoked(&s, "sid-1", NOW + 3600));
        assert!(!s.is_revoked("at-1", None, "i", "u", NOW, NOW));
    }

    #[test]
    fn rfc8936_s2_4_redelivered_set_is_a_duplicate_not_a_second_apply() {
        let mut s = FeedState::default();
        let r = session("sid-1", NOW + 3600, "j1");
        assert_eq!(s.apply(r, NOW), Outcome::New);
        assert_eq!(s.apply(r, NOW + 5), Outcome::Duplicate);
        // Another SET about the same session that extends nothing.
        assert_eq!(
            s.apply(session("sid-1", NOW + 10, "j2"), NOW + 5),
            Outcome::NoChange
        );
        // One that extends the entry is new, and takes the tag.
        let later = session("sid-1", NOW + 7200, "j3");
        assert_eq!(s.apply(later, NOW + 5), Outcome::New);
        assert_eq!(s.apply(later, NOW + 6), Outcome::Duplicate);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn risc_not_before_is_strict_so_a_sign_in_in_the_same_second_passes() {
        let mut s = FeedState::default();
        s.apply(user("alice", NOW, NOW + 3600, "j1"), NOW);
        let refused = |iat| s.is_revoked("at", None, "https://as/t/a", "alice", iat, NOW + 1);
        assert!(refused(NOW - 1));
        assert!(!refused(NOW));
        assert!(!refused(NOW + 1));
        assert!(!s.is_revoked("at", None, "https://as/t/a", "bob", NOW - 1, NOW + 1));
        assert!(!s.is_revoked("at", None, "https://other/t/a", "alice", NOW - 1, NOW + 1));
    }

    #[test]
    fn risc_not_before_keeps_the_later_of_two_stamps() {
        let mut s = FeedState::default();
        s.apply(user("alice", NOW + 100, NOW + 3700, "j1"), NOW);
        assert_eq!(
            s.apply(user("alice", NOW, NOW + 3600, "j2"), NOW),
            Outcome::NoChange
        );
        let refused =
            |s: &FeedState, iat| s.is_revoked("at", None, "https://as/t/a", "alice", iat, NOW);
        assert!(refused(&s, NOW + 99));
        assert_eq!(
            s.apply(user("alice", NOW + 200, NOW + 3800, "j3"), NOW),
            Outcome::New
        );
        assert!(refused(&s, NOW + 199));
        assert!(!refused(&s, NOW + 200));
    }

    #[test]
    fn access_token_revoked_refuses_that_jti_only() {
        let mut s = FeedState::default();
        s.apply(
            Record {
                kind: Kind::Token,
                key: key(Kind::Token, &["at-1"]),
                until: secs(NOW + 300),
                tag: jti_tag("j"),
                not_before: 0,
            },
            NOW,
        );
        assert!(s.is_revoked("at-1", Some("sid"), "i", "u", NOW, NOW));
        assert!(!s.is_revoked("at-2", Some("sid"), "i", "u", NOW, NOW));
        // A session id equal to the token id is another key.
        assert!(!s.is_revoked("x", Some("at-1"), "i", "u", NOW, NOW));
    }

    #[test]
    fn expired_records_are_not_stored_and_prune_drops_expired_entries() {
        let mut s = FeedState::default();
        assert_eq!(s.apply(session("old", NOW, "j0"), NOW), Outcome::NoChange);
        s.apply(session("a", NOW + 10, "j1"), NOW);
        s.apply(session("b", NOW + 20, "j2"), NOW);
        s.apply(user("alice", NOW, NOW + 10, "j3"), NOW);
        assert_eq!(s.len(), 3);
        assert_eq!(s.prune(NOW + 10), 2);
        assert_eq!(s.len(), 1);
        assert!(s.is_revoked("at", Some("b"), "i", "u", NOW, NOW + 10));
    }

    #[test]
    fn journal_line_round_trips_and_garbage_is_refused() {
        let r = user("alice", NOW, NOW + 3600, "j1");
        assert_eq!(Record::from_line(&r.to_line()), Some(r));
        let s = session("sid", NOW + 1, "j2");
        assert_eq!(Record::from_line(&s.to_line()), Some(s));
        let line = s.to_line();
        for bad in [
            "",
            "x",
            &line[..line.len() - 3], // a torn write
            &format!("{line} 1"),
            &line.replacen('s', "z", 1),
        ] {
            assert_eq!(Record::from_line(bad), None, "{bad:?}");
        }
    }

    /// Requirement: 1,000,000 revoked sessions in at most 64 MiB.
    #[test]
    fn one_million_revoked_sessions_fit_in_64_mib() {
        let mut s = FeedState::default();
        for i in 0..1_000_000u32 {
            let sid = format!("session-{i}");
            s.apply(session(&sid, NOW + 3600, &sid), NOW);
        }
        assert_eq!(s.len(), 1_000_000);
        let bytes = s.heap_bytes();
        println!(
            "1,000,000 revoked sessions: {bytes} bytes ({:.1} MiB), {} bytes per slot",
            bytes as f64 / (1024.0 * 1024.0),
            std::mem::size_of::<(Key, Entry)>() + 1
        );
        assert!(bytes <= 64 * 1024 * 1024, "{bytes} bytes");
        assert!(s.is_revoked("x", Some("session-999999"), "i", "u", NOW, NOW));
    }
}
