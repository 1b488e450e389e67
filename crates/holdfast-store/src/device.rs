//! Device authorization requests (RFC 8628): the [`DeviceStore`]
//! capability (SQL in `sql/device.rs`). The rules (user codes, polling,
//! the states) are `holdfast_core::device`; this stores where each
//! request is.

use async_trait::async_trait;
use holdfast_core::device::DeviceStatus;

use crate::StoreResult;

/// One device authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorizationRecord {
    /// Random id; also the `state` of the hosted sign-in that completes it.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The device's client.
    pub client_id: String,
    /// The scope asked for (already checked against the client's).
    pub scope: String,
    /// SHA-256 digest of the device code.
    pub device_code_digest: String,
    /// The user code, canonical (`holdfast_core::device::UserCode`).
    pub user_code: String,
    /// Where it is.
    pub status: DeviceStatus,
    /// When it was issued, Unix seconds.
    pub created_at: i64,
    /// When its codes stop working.
    pub expires_at: i64,
    /// The minimum seconds between polls (grows with `slow_down`).
    pub interval_secs: i64,
    /// The device's last poll.
    pub last_polled_at: Option<i64>,
    /// SHA-256 of the CSRF binding of the browser that approved it.
    pub browser_digest: Option<String>,
    /// The PKCE verifier of the hosted sign-in (server-held).
    pub code_verifier: Option<String>,
    /// SHA-256 of the authorization code that sign-in issued.
    pub code_digest: Option<String>,
}

/// How to find a request.
#[derive(Debug, Clone, Copy)]
pub enum DeviceLookup<'a> {
    /// By its id (the hosted sign-in's `state`).
    Id(&'a str),
    /// By the digest of its device code (a poll).
    DeviceCode(&'a str),
    /// By its canonical user code (the verification page).
    UserCode(&'a str),
}

/// Device authorization requests.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Stores a new request; [`crate::StoreError::Conflict`] when its user
    /// code is taken in the tenant (draw another).
    async fn insert_device_authorization(
        &self,
        record: &DeviceAuthorizationRecord,
    ) -> StoreResult<()>;
    /// A request of the tenant.
    async fn device_authorization(
        &self,
        tenant_id: &str,
        lookup: DeviceLookup<'_>,
    ) -> StoreResult<Option<DeviceAuthorizationRecord>>;
    /// Writes `record`'s changeable fields (status, interval, last poll,
    /// browser, verifier, code) if the stored status is still `expected`:
    /// `false` when another request moved it first (compare-and-set, so a
    /// request is approved, bound and consumed once each).
    async fn update_device_authorization(
        &self,
        record: &DeviceAuthorizationRecord,
        expected: DeviceStatus,
    ) -> StoreResult<bool>;
}
