//! Row types shared by both back ends and their conversion to domain values.

use holdfast_core::client::{Client, GrantType, RefreshPolicy};
use holdfast_core::refresh::rotation::{StoredToken, TokenState};
use holdfast_core::tenant::{Tenant, TenantSlug};
use holdfast_core::user::User;

use crate::{
    AuthCodeRecord, BrowserSessionRecord, ClientRecord, RefreshTokenRecord, SessionRecord,
    StoreError, StoredKey, UserRecord,
};

#[derive(sqlx::FromRow)]
pub(crate) struct TenantRow {
    pub id: String,
    pub slug: String,
    pub display_name: String,
    pub signing_alg: String,
    pub default_audience: Option<String>,
    pub created_at: i64,
    pub branding: Option<String>,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StoreError;
    fn try_from(r: TenantRow) -> Result<Self, Self::Error> {
        Ok(Tenant {
            id: r.id,
            slug: TenantSlug::parse(&r.slug).map_err(corrupt)?,
            display_name: r.display_name,
            signing_alg: r.signing_alg.parse().map_err(corrupt)?,
            default_audience: r.default_audience,
            created_at: r.created_at,
            branding: match r.branding {
                Some(text) => serde_json::from_str(&text).map_err(corrupt)?,
                None => Default::default(),
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClientRow {
    pub id: String,
    pub tenant_id: String,
    pub client_id: String,
    pub kind: String,
    pub secret_digest: Option<String>,
    pub redirect_uris: String,
    pub grant_types: String,
    pub scopes: String,
    pub access_token_ttl_secs: i64,
    pub rotation: String,
    pub grace_window_secs: i64,
    pub retry_limit: i64,
    pub idle_lifetime_secs: i64,
    pub absolute_lifetime_secs: i64,
    pub dpop_required: bool,
    pub created_at: i64,
    pub refresh_token_in_cookie: bool,
    pub allowed_origins: String,
    pub dpop_nonce_required: bool,
    pub unbound_grace_accept_risk: bool,
    pub resources: String,
    pub id_token_signed_response_alg: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    pub mfa_required: bool,
    pub display_name: Option<String>,
    pub version: i64,
}

impl TryFrom<ClientRow> for ClientRecord {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> Result<Self, Self::Error> {
        let grant_names: Vec<String> = json_list(&r.grant_types)?;
        let grant_types = grant_names
            .iter()
            .map(|g| g.parse::<GrantType>().map_err(corrupt))
            .collect::<Result<_, _>>()?;
        Ok(ClientRecord {
            client: Client {
                id: r.id,
                tenant_id: r.tenant_id,
                client_id: r.client_id,
                kind: r.kind.parse().map_err(corrupt)?,
                redirect_uris: json_list(&r.redirect_uris)?,
                grant_types,
                scopes: json_list(&r.scopes)?,
                access_token_ttl_secs: r.access_token_ttl_secs,
                refresh: RefreshPolicy {
                    rotation: r.rotation.parse().map_err(corrupt)?,
                    grace_window_secs: r.grace_window_secs,
                    retry_limit: r.retry_limit,
                    idle_lifetime_secs: r.idle_lifetime_secs,
                    absolute_lifetime_secs: r.absolute_lifetime_secs,
                    unbound_grace_accept_risk: r.unbound_grace_accept_risk,
                },
                dpop_required: r.dpop_required,
                refresh_token_in_cookie: r.refresh_token_in_cookie,
                allowed_origins: json_list(&r.allowed_origins)?,
                dpop_nonce_required: r.dpop_nonce_required,
                mfa_required: r.mfa_required,
                display_name: r.display_name,
                resources: json_list(&r.resources)?,
                id_token_signed_response_alg: r
                    .id_token_signed_response_alg
                    .map(|a| a.parse().map_err(corrupt))
                    .transpose()?,
                backchannel_logout: r.backchannel_logout_uri.map(|uri| {
                    holdfast_core::client::BackchannelLogout {
                        uri,
                        session_required: r.backchannel_logout_session_required,
                    }
                }),
                created_at: r.created_at,
            },
            secret_digest: r.secret_digest,
            version: r.version,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    pub id: String,
    pub tenant_id: String,
    pub username: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub created_at: i64,
    pub not_before: Option<i64>,
    pub disabled_at: Option<i64>,
    pub display_name: Option<String>,
    pub email_verified_at: Option<i64>,
}

impl From<UserRow> for UserRecord {
    fn from(r: UserRow) -> Self {
        UserRecord {
            user: User {
                id: r.id,
                tenant_id: r.tenant_id,
                username: r.username,
                email: r.email,
                email_verified: r.email_verified_at.is_some(),
                display_name: r.display_name,
                created_at: r.created_at,
            },
            password_hash: r.password_hash,
            not_before: r.not_before,
            disabled_at: r.disabled_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub private_sealed: Vec<u8>,
    pub public_jwk: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
}

impl TryFrom<KeyRow> for StoredKey {
    type Error = StoreError;
    fn try_from(r: KeyRow) -> Result<Self, Self::Error> {
        Ok(StoredKey {
            kid: r.kid,
            alg: r.alg.parse().map_err(corrupt)?,
            state: r.state.parse().map_err(corrupt)?,
            private_sealed: r.private_sealed,
            public_jwk: r.public_jwk,
            created_at: r.created_at,
            activated_at: r.activated_at,
            retired_at: r.retired_at,
        })
    }
}

pub(crate) fn json_list(raw: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(raw).map_err(corrupt)
}

pub(crate) fn to_json_list<T: AsRef<str>>(items: &[T]) -> String {
    let strings: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    // Serialising a list of strings cannot fail.
    serde_json::to_string(&strings).unwrap_or_else(|_| "[]".to_owned())
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub client_id: String,
    pub scope: String,
    pub resource: Option<String>,
    pub auth_time: i64,
    pub acr: String,
    pub amr: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
    pub device_id: Option<String>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub dpop_jkt: Option<String>,
    pub browser_session: Option<String>,
    /// Generation of the family's newest refresh token.
    pub generation: i64,
    /// The newest token, sealed under a key derived from its parent.
    pub child_sealed: Option<Vec<u8>>,
}

/// A `refresh_tokens` row.
#[derive(sqlx::FromRow)]
pub(crate) struct RefreshTokenRow {
    pub token_digest: String,
    pub session_id: String,
    pub generation: i64,
    pub state: String,
    pub parent_digest: Option<String>,
    pub created_at: i64,
    pub rotated_at: Option<i64>,
    pub retries: i64,
}

impl RefreshTokenRow {
    /// The token as its family sees it: its state read by
    /// [`TokenState::from_stored`] (which derives `spent`), and only the
    /// newest token's parent (`rotated`, one generation below) holding the
    /// family's one sealed child.
    pub(crate) fn in_family(self, family: &SessionRow) -> Result<RefreshTokenRecord, StoreError> {
        let state = TokenState::from_stored(&StoredToken {
            state: &self.state,
            generation: self.generation,
            family_generation: family.generation,
            created_at: self.created_at,
            rotated_at: self.rotated_at,
            retries: self.retries,
        })
        .map_err(corrupt)?;
        let parent_of_newest = family.generation.saturating_sub(self.generation) == 1;
        let child_sealed = match state {
            TokenState::Rotated { .. } if parent_of_newest => family.child_sealed.clone(),
            _ => None,
        };
        Ok(RefreshTokenRecord {
            token_digest: self.token_digest,
            session_id: self.session_id,
            generation: self.generation,
            state,
            parent_digest: self.parent_digest,
            created_at: self.created_at,
            rotated_at: self.rotated_at,
            child_sealed,
            retries: self.retries,
        })
    }
}

impl TryFrom<SessionRow> for SessionRecord {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> Result<Self, Self::Error> {
        Ok(SessionRecord {
            id: r.id,
            tenant_id: r.tenant_id,
            user_id: r.user_id,
            client_id: r.client_id,
            scope: r.scope,
            resource: r.resource,
            auth_time: r.auth_time,
            acr: r.acr,
            amr: json_list(&r.amr)?,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            revoked_reason: r.revoked_reason,
            device_id: r.device_id,
            user_agent: r.user_agent,
            ip: r.ip,
            dpop_jkt: r.dpop_jkt,
            browser_session: r.browser_session,
        })
    }
}

/// A refresh token read together with its family (session) and user, in one
/// statement: what a presentation needs to decide and to mint tokens.
/// Token and user columns that clash with the session's are aliased
/// (`token_generation`, `token_created_at`, `user_created_at`).
#[derive(sqlx::FromRow)]
pub(crate) struct FamilyRow {
    #[sqlx(flatten)]
    pub session: SessionRow,
    pub token_digest: String,
    pub token_generation: i64,
    pub state: String,
    pub parent_digest: Option<String>,
    pub token_created_at: i64,
    pub rotated_at: Option<i64>,
    pub retries: i64,
    pub username: String,
    pub email: Option<String>,
    pub email_verified_at: Option<i64>,
    pub display_name: Option<String>,
    pub user_created_at: i64,
}

/// The select list of a [`FamilyRow`], over `refresh_tokens t`, `sessions s`
/// and `users u`.
macro_rules! family_columns {
    () => {
        "SELECT s.*, t.token_digest, t.generation AS token_generation, t.state, t.parent_digest,
            t.created_at AS token_created_at, t.rotated_at, t.retries,
            u.username, u.email, u.email_verified_at, u.display_name, u.created_at AS user_created_at"
    };
}
pub(crate) use family_columns;

/// The SELECT of the [`FamilyRow`] of the token digest `$2` in tenant `$1`,
/// as a literal (for `concat!`).
macro_rules! read_family {
    () => {
        concat!(
            $crate::rows::family_columns!(),
            "
     FROM refresh_tokens t
     JOIN sessions s ON s.id = t.session_id AND s.tenant_id = t.tenant_id
     JOIN users u ON u.id = s.user_id AND u.tenant_id = s.tenant_id
     WHERE t.tenant_id = $1 AND t.token_digest = $2"
        )
    };
}
pub(crate) use read_family;

/// The [`FamilyRow`] of the token digest `$2` in tenant `$1`.
pub(crate) const READ_FAMILY: &str = read_family!();

impl FamilyRow {
    /// Splits the row into the token, its session and its user.
    pub(crate) fn split(self) -> Result<(RefreshTokenRecord, SessionRecord, User), StoreError> {
        let token = RefreshTokenRow {
            token_digest: self.token_digest,
            session_id: self.session.id.clone(),
            generation: self.token_generation,
            state: self.state,
            parent_digest: self.parent_digest,
            created_at: self.token_created_at,
            rotated_at: self.rotated_at,
            retries: self.retries,
        }
        .in_family(&self.session)?;
        let session: SessionRecord = self.session.try_into()?;
        let user = User {
            id: session.user_id.clone(),
            tenant_id: session.tenant_id.clone(),
            username: self.username,
            email: self.email,
            email_verified: self.email_verified_at.is_some(),
            display_name: self.display_name,
            created_at: self.user_created_at,
        };
        Ok((token, session, user))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuthCodeRow {
    pub code_digest: String,
    pub tenant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: Option<String>,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub resource: Option<String>,
    pub auth_time: i64,
    pub acr: String,
    pub amr: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    pub session_id: Option<String>,
    pub access_jti: Option<String>,
    pub access_exp: Option<i64>,
    pub dpop_jkt: Option<String>,
    pub browser_session: Option<String>,
}

impl TryFrom<AuthCodeRow> for AuthCodeRecord {
    type Error = StoreError;
    fn try_from(r: AuthCodeRow) -> Result<Self, Self::Error> {
        Ok(AuthCodeRecord {
            code_digest: r.code_digest,
            tenant_id: r.tenant_id,
            client_id: r.client_id,
            user_id: r.user_id,
            redirect_uri: r.redirect_uri,
            scope: r.scope,
            nonce: r.nonce,
            code_challenge: r.code_challenge,
            resource: r.resource,
            auth_time: r.auth_time,
            acr: r.acr,
            amr: json_list(&r.amr)?,
            created_at: r.created_at,
            expires_at: r.expires_at,
            consumed_at: r.consumed_at,
            session_id: r.session_id,
            access_jti: r.access_jti,
            access_exp: r.access_exp,
            dpop_jkt: r.dpop_jkt,
            browser_session: r.browser_session,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct BrowserSessionRow {
    pub id_digest: String,
    pub tenant_id: String,
    pub user_id: String,
    pub auth_time: i64,
    pub amr: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl TryFrom<BrowserSessionRow> for BrowserSessionRecord {
    type Error = StoreError;
    fn try_from(r: BrowserSessionRow) -> Result<Self, Self::Error> {
        Ok(BrowserSessionRecord {
            id_digest: r.id_digest,
            tenant_id: r.tenant_id,
            user_id: r.user_id,
            auth_time: r.auth_time,
            amr: json_list(&r.amr)?,
            created_at: r.created_at,
            expires_at: r.expires_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SignalRow {
    pub id: String,
    pub kind: String,
    pub at: i64,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub token_id: Option<String>,
    pub token_exp: Option<i64>,
    pub detail: Option<String>,
}

impl TryFrom<SignalRow> for holdfast_core::signals::Signal {
    type Error = StoreError;
    fn try_from(r: SignalRow) -> Result<Self, Self::Error> {
        Ok(Self {
            kind: holdfast_core::signals::SignalKind::parse(&r.kind)
                .ok_or_else(|| corrupt(format!("unknown event kind {:?}", r.kind)))?,
            id: r.id,
            at: r.at,
            session_id: r.session_id,
            user_id: r.user_id,
            token_id: r.token_id,
            token_exp: r.token_exp,
            detail: r.detail,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct StreamRow {
    pub id: String,
    pub tenant_id: String,
    pub client_id: String,
    pub delivery_method: String,
    pub push_endpoint: Option<String>,
    pub push_authorization: Option<String>,
    pub events_requested: String,
    pub events_delivered: String,
    pub description: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl TryFrom<StreamRow> for crate::StreamRecord {
    type Error = StoreError;
    fn try_from(r: StreamRow) -> Result<Self, Self::Error> {
        let events_delivered = r
            .events_delivered
            .split_whitespace()
            .map(|k| {
                holdfast_core::signals::SignalKind::parse(k)
                    .ok_or_else(|| corrupt(format!("unknown event kind {k:?}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            id: r.id,
            tenant_id: r.tenant_id,
            client_id: r.client_id,
            delivery_method: r.delivery_method,
            push_endpoint: r.push_endpoint,
            push_authorization: r.push_authorization,
            events_requested: json_list(&r.events_requested)?,
            events_delivered,
            description: r.description,
            status: holdfast_core::signals::StreamStatus::parse(&r.status)
                .ok_or_else(|| corrupt(format!("unknown stream status {:?}", r.status)))?,
            status_reason: r.status_reason,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// `events_delivered` as stored: each kind's name between spaces, so one
/// can be matched with `LIKE '% name %'`.
pub(crate) fn delivered_column(kinds: &[holdfast_core::signals::SignalKind]) -> String {
    let mut column = String::from(" ");
    for kind in kinds {
        column.push_str(kind.as_str());
        column.push(' ');
    }
    column
}

#[derive(sqlx::FromRow)]
pub(crate) struct DueLogoutRow {
    pub id: String,
    pub tenant_id: String,
    pub client_id: String,
    pub uri: String,
    pub user_id: String,
    pub session_id: Option<String>,
    pub at: i64,
    pub attempts: i64,
}

impl From<DueLogoutRow> for crate::DueLogout {
    fn from(r: DueLogoutRow) -> Self {
        Self {
            id: r.id,
            tenant_id: r.tenant_id,
            client_id: r.client_id,
            uri: r.uri,
            user_id: r.user_id,
            session_id: r.session_id,
            at: r.at,
            attempts: r.attempts,
        }
    }
}
