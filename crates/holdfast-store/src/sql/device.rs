//! SQL of [`DeviceStore`](crate::DeviceStore): device authorization requests.

use super::ThisStore;
use crate::StoreError;
use crate::device::{DeviceAuthorizationRecord, DeviceLookup};
use holdfast_core::device::DeviceStatus;

/// A request by id, device-code digest or user code (`$2`).
const BY: [&str; 3] = [
    "SELECT * FROM device_authorizations WHERE tenant_id = $1 AND id = $2",
    "SELECT * FROM device_authorizations WHERE tenant_id = $1 AND device_code_digest = $2",
    "SELECT * FROM device_authorizations WHERE tenant_id = $1 AND user_code = $2",
];

const INSERT: &str = "INSERT INTO device_authorizations
    (id, tenant_id, client_id, scope, device_code_digest, user_code, status, created_at,
     expires_at, interval_secs, last_polled_at, browser_digest, code_verifier, code_digest)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

const UPDATE: &str = "UPDATE device_authorizations
    SET status = $3, interval_secs = $4, last_polled_at = $5, browser_digest = $6,
        code_verifier = $7, code_digest = $8
    WHERE tenant_id = $1 AND id = $2 AND status = $9";

#[derive(sqlx::FromRow)]
struct DeviceRow {
    id: String,
    tenant_id: String,
    client_id: String,
    scope: String,
    device_code_digest: String,
    user_code: String,
    status: String,
    created_at: i64,
    expires_at: i64,
    interval_secs: i64,
    last_polled_at: Option<i64>,
    browser_digest: Option<String>,
    code_verifier: Option<String>,
    code_digest: Option<String>,
}

impl TryFrom<DeviceRow> for DeviceAuthorizationRecord {
    type Error = StoreError;
    fn try_from(r: DeviceRow) -> Result<Self, Self::Error> {
        Ok(Self {
            status: DeviceStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("device status {:?}", r.status)))?,
            id: r.id,
            tenant_id: r.tenant_id,
            client_id: r.client_id,
            scope: r.scope,
            device_code_digest: r.device_code_digest,
            user_code: r.user_code,
            created_at: r.created_at,
            expires_at: r.expires_at,
            interval_secs: r.interval_secs,
            last_polled_at: r.last_polled_at,
            browser_digest: r.browser_digest,
            code_verifier: r.code_verifier,
            code_digest: r.code_digest,
        })
    }
}

#[async_trait::async_trait]
impl crate::DeviceStore for ThisStore {
    async fn insert_device_authorization(
        &self,
        r: &DeviceAuthorizationRecord,
    ) -> crate::StoreResult<()> {
        sqlx::query(INSERT)
            .bind(&r.id)
            .bind(&r.tenant_id)
            .bind(&r.client_id)
            .bind(&r.scope)
            .bind(&r.device_code_digest)
            .bind(&r.user_code)
            .bind(r.status.as_str())
            .bind(r.created_at)
            .bind(r.expires_at)
            .bind(r.interval_secs)
            .bind(r.last_polled_at)
            .bind(&r.browser_digest)
            .bind(&r.code_verifier)
            .bind(&r.code_digest)
            .execute(&mut *self.write_conn().await?)
            .await
            .map_err(|e| crate::conflict_or(e, "user code"))?;
        Ok(())
    }

    async fn device_authorization(
        &self,
        tenant_id: &str,
        lookup: DeviceLookup<'_>,
    ) -> crate::StoreResult<Option<DeviceAuthorizationRecord>> {
        let (statement, value) = match lookup {
            DeviceLookup::Id(id) => (BY[0], id),
            DeviceLookup::DeviceCode(digest) => (BY[1], digest),
            DeviceLookup::UserCode(code) => (BY[2], code),
        };
        sqlx::query_as::<_, DeviceRow>(statement)
            .bind(tenant_id)
            .bind(value)
            .fetch_optional(&self.pool)
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    async fn update_device_authorization(
        &self,
        r: &DeviceAuthorizationRecord,
        expected: DeviceStatus,
    ) -> crate::StoreResult<bool> {
        let done = sqlx::query(UPDATE)
            .bind(&r.tenant_id)
            .bind(&r.id)
            .bind(r.status.as_str())
            .bind(r.interval_secs)
            .bind(r.last_polled_at)
            .bind(&r.browser_digest)
            .bind(&r.code_verifier)
            .bind(&r.code_digest)
            .bind(expected.as_str())
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
