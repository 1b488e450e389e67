//! The state file: an append-only journal of applied events, so a restart
//! neither forgets revocations nor needs the transmitter to send them again.
//!
//! Rule (the reason it exists): a batch's records are appended and
//! `fsync`ed **before** its SETs are acknowledged (RFC 8936 §2.4: an
//! acknowledged SET is not delivered again). A crash between the two costs
//! a redelivery, which dedupes; never a lost revocation.
//!
//! Format: one [`Record::to_line`] per line (`kind key until tag
//! not_before`), keys being digests, never raw session or token ids. At
//! start the file is read, expired and unreadable lines (a torn last line)
//! are dropped, and it is rewritten compacted through a temporary file and
//! a rename, so the live file is always whole.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use super::state::{FeedState, Outcome, Record};

/// What loading the journal found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loaded {
    /// Records applied to the state.
    pub applied: usize,
    /// Lines dropped: expired, superseded or unreadable.
    pub dropped: usize,
}

/// The open journal.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    file: File,
    /// Lines in the file now, to decide when to compact.
    lines: usize,
}

impl Journal {
    /// Reads `path` (if it exists) into `state`, dropping what expired by
    /// `now`, rewrites it compacted and opens it for appending.
    pub(crate) fn open(path: &Path, state: &mut FeedState, now: i64) -> io::Result<(Self, Loaded)> {
        let mut loaded = Loaded::default();
        match File::open(path) {
            Ok(f) => {
                for line in BufReader::new(f).split(b'\n') {
                    let line = line?;
                    let record = std::str::from_utf8(&line).ok().and_then(Record::from_line);
                    match record.map(|r| state.apply(r, now)) {
                        Some(Outcome::New) => loaded.applied += 1,
                        _ => loaded.dropped += 1,
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let journal = Self {
            path: path.to_owned(),
            file: rewrite(path, state)?,
            lines: state.len(),
        };
        Ok((journal, loaded))
    }

    /// Appends `records` and waits for them to reach the disk.
    pub(crate) fn append(&mut self, records: &[Record]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = String::with_capacity(records.len() * 64);
        for r in records {
            buf.push_str(&r.to_line());
            buf.push('\n');
        }
        self.file.write_all(buf.as_bytes())?;
        self.file.sync_data()?;
        self.lines += records.len();
        Ok(())
    }

    /// Rewrites the file from `state` when it has grown to more than twice
    /// the live entries (plus slack), so it stays proportional to the state.
    pub(crate) fn compact_if_large(&mut self, state: &FeedState) -> io::Result<bool> {
        if self.lines <= 2 * state.len() + 10_000 {
            return Ok(false);
        }
        self.file = rewrite(&self.path, state)?;
        self.lines = state.len();
        Ok(true)
    }
}

/// Writes `state` to `path` through `path.tmp`, fsync and rename; returns
/// the new file opened for appending.
fn rewrite(path: &Path, state: &FeedState) -> io::Result<File> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    {
        let mut out = io::BufWriter::new(File::create(&tmp)?);
        for r in state.records() {
            out.write_all(r.to_line().as_bytes())?;
            out.write_all(b"\n")?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    // The rename itself must reach the disk too.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    OpenOptions::new().append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::super::state::{Kind, jti_tag, key, secs};
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn temp_path(name: &str) -> PathBuf {
        let mut p = std::env::temp_dir();
        p.push(format!(
            "holdfast-verify-{name}-{}-{}",
            std::process::id(),
            holdfast_crypto::secret::random_id().unwrap()
        ));
        p
    }

    fn session(sid: &str, until: i64) -> Record {
        Record {
            kind: Kind::Session,
            key: key(Kind::Session, &[sid]),
            until: secs(until),
            tag: jti_tag(sid),
            not_before: 0,
        }
    }

    #[test]
    fn journal_round_trip_restores_revocations_and_drops_expired_and_torn_lines() {
        let path = temp_path("journal");
        {
            let mut state = FeedState::default();
            let (mut j, loaded) = Journal::open(&path, &mut state, NOW).unwrap();
            assert_eq!(loaded, Loaded::default());
            let records = [session("a", NOW + 100), session("b", NOW + 10)];
            for r in records {
                state.apply(r, NOW);
            }
            j.append(&records).unwrap();
            j.append(&[session("a", NOW + 100)]).unwrap(); // a redelivery logged twice
        }
        // A crash in the middle of a line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"s 00ff").unwrap();
        drop(f);

        let mut state = FeedState::default();
        let (_j, loaded) = Journal::open(&path, &mut state, NOW + 50).unwrap();
        assert_eq!(
            loaded,
            Loaded {
                applied: 1,
                dropped: 3
            }
        );
        assert!(state.is_revoked("x", Some("a"), "i", "u", NOW, NOW + 50));
        assert!(!state.is_revoked("x", Some("b"), "i", "u", NOW, NOW + 50));
        // Rewritten compacted: one line, whole.
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", session("a", NOW + 100).to_line()));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn journal_compacts_once_it_outgrows_the_state() {
        let path = temp_path("compact");
        let mut state = FeedState::default();
        let (mut j, _) = Journal::open(&path, &mut state, NOW).unwrap();
        let r = session("a", NOW + 100);
        state.apply(r, NOW);
        j.append(&vec![r; 10_003]).unwrap();
        assert!(j.compact_if_large(&state).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
        assert!(!j.compact_if_large(&state).unwrap());
        let _ = std::fs::remove_file(&path);
    }
}
