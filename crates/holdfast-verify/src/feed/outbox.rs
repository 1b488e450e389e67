//! The acknowledgement rule of the poll loop, apart from its HTTP: what the
//! next poll request (RFC 8936 §2.2) carries, and what waits for the
//! journal.

use serde_json::{Map, Value, json};

use super::set::SetError;
use super::shared::Processed;
use super::state::Record;

/// At most this many SETs per poll response.
pub(super) const MAX_EVENTS: usize = 500;

/// What the next poll request carries, and what waits for the journal.
///
/// Rule: a SET is acknowledged only once everything applied up to it is
/// journaled (module docs of [`super::journal`]). While a write is
/// outstanding, every later acknowledgement waits too, since a later
/// duplicate may be acknowledged on the strength of an unwritten record.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    /// To acknowledge in the next poll (RFC 8936 §2.2 `ack`).
    acks: Vec<String>,
    /// To report in the next poll (RFC 8936 §2.2 `setErrs`).
    errs: Vec<(String, SetError)>,
    /// Applied but not yet journaled.
    unwritten: Vec<Record>,
    /// Acknowledgements waiting for `unwritten`.
    held: Vec<String>,
}

impl Outbox {
    /// Takes in a processed batch; returns the records to journal now, if
    /// its acknowledgements wait for them.
    pub(super) fn add(&mut self, p: Processed) -> Option<Vec<Record>> {
        self.errs.extend(p.errs);
        if self.unwritten.is_empty() && p.records.is_empty() {
            self.acks.extend(p.acks);
            return None;
        }
        self.held.extend(p.acks);
        self.unwritten.extend(p.records);
        Some(self.unwritten.clone())
    }

    /// What a failed write left to journal.
    pub(super) fn unwritten(&self) -> Option<Vec<Record>> {
        (!self.unwritten.is_empty()).then(|| self.unwritten.clone())
    }

    /// The journal has every unwritten record: release what waited.
    pub(super) fn written(&mut self) {
        self.unwritten.clear();
        self.acks.append(&mut self.held);
    }

    /// RFC 8936 §2.2 poll request: `maxEvents`, `returnImmediately`, `ack`,
    /// `setErrs` (each error `{"err", "description"}`, RFC 8935 §2.4 codes).
    pub(super) fn request(&self, return_immediately: bool) -> Value {
        let mut request = json!({
            "maxEvents": MAX_EVENTS,
            "returnImmediately": return_immediately,
        });
        if !self.acks.is_empty() {
            request["ack"] = json!(self.acks);
        }
        if !self.errs.is_empty() {
            let errs: Map<String, Value> = self
                .errs
                .iter()
                .map(|(jti, e)| {
                    (
                        jti.clone(),
                        json!({"err": e.code(), "description": e.to_string()}),
                    )
                })
                .collect();
            request["setErrs"] = Value::Object(errs);
        }
        request
    }

    /// The request reached the transmitter.
    pub(super) fn sent(&mut self) {
        self.acks.clear();
        self.errs.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::super::state::{Kind, jti_tag, key};
    use super::*;

    fn record(n: u32) -> Record {
        Record {
            kind: Kind::Session,
            key: key(Kind::Session, &[&n.to_string()]),
            until: 2_000_000_000,
            tag: jti_tag(&n.to_string()),
            not_before: 0,
        }
    }

    fn batch(acks: &[&str], records: usize) -> Processed {
        Processed {
            acks: acks.iter().map(|s| s.to_string()).collect(),
            errs: vec![("bad".into(), SetError::WrongIssuer)],
            records: (0..records as u32).map(record).collect(),
            deferred: 0,
        }
    }

    #[test]
    fn rfc8936_s2_2_request_acks_and_reports_errors_of_the_previous_batch() {
        let mut o = Outbox::default();
        assert_eq!(o.add(batch(&["j1"], 0)), None);
        let r = o.request(false);
        assert_eq!(r["maxEvents"], json!(MAX_EVENTS));
        assert_eq!(r["returnImmediately"], json!(false));
        assert_eq!(r["ack"], json!(["j1"]));
        assert_eq!(r["setErrs"]["bad"]["err"], json!("invalid_issuer"));
        o.sent();
        let r = o.request(true);
        assert!(r.get("ack").is_none() && r.get("setErrs").is_none());
    }

    #[test]
    fn acks_wait_until_their_records_are_journaled() {
        let mut o = Outbox::default();
        assert_eq!(o.add(batch(&["j1"], 1)).map(|r| r.len()), Some(1));
        assert!(o.request(false).get("ack").is_none());
        // The write failed: a later batch with nothing new waits too.
        assert_eq!(o.add(batch(&["j2"], 0)).map(|r| r.len()), Some(1));
        assert!(o.request(false).get("ack").is_none());
        assert_eq!(o.unwritten().map(|r| r.len()), Some(1));
        o.written();
        assert_eq!(o.request(false)["ack"], json!(["j1", "j2"]));
        assert_eq!(o.unwritten(), None);
    }
}
