//! Self-service accounts (issue 14): sign-up, email verification, password
//! recovery and the account page's changes, shared by the hosted pages
//! (`http/accounts.rs`, `http/account_page.rs`) and the CLI.
//!
//! The rules are `holdfast_core::self_service`; here they meet the store.
//! A mailed link is a random token (`hfev_…`, `hfpr_…`) of which only the
//! SHA-256 is stored; a verification code is six digits of which only an
//! HMAC under a per-tenant key derived from the KEK is stored (a digest of
//! six digits could be reversed by trying all 10⁶). Every change is one
//! store transaction with the mail it causes and its audit event, so a
//! failed send or a crash leaves nothing half-done: the user retries.
//!
//! Answers never reveal whether an address has an account (OWASP
//! Authentication Cheat Sheet, "Authentication and error messages"):
//! sign-up with a taken address and recovery for an unknown one answer
//! exactly as the other case does, and the mail (if any) says the rest.
//! The one exception is sign-up where verification is `optional`: a new
//! account is signed in at once, which a taken address cannot be; tenants
//! that must not reveal registrations choose `required`.

use holdfast_core::accounts::{AccountPolicy, EmailVerification, PasswordRejection, Registration};
use holdfast_core::self_service::{self, Purpose, Refusal};
use holdfast_core::tenant::{Tenant, issuer_url};
use holdfast_core::user::{User, Username, parse_email};
use holdfast_crypto::secret::{
    SecretString, constant_time_eq, generate_token, hmac_sha256, random_bytes, sha256_b64,
};
use holdfast_store::{AccountTokenRecord, NewAccount, OutgoingMail, Redeem, StoreError};
use url::Url;

use crate::service::RequestContext;
use crate::service::audit;
use crate::service::mail::{AccountMail, account_mail, password_changed};
use crate::service::password::PasswordError;
use crate::service::throttle::{self, ThrottleError, Throttled};
use crate::state::AppState;

/// Why a self-service request was not carried out. [`Self::user_message`]
/// is what the page (or the API's `error_description`) says.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The tenant does not accept sign-ups (registration `closed` or `invite`).
    #[error("registration is not open")]
    RegistrationClosed,
    /// An input is malformed (email, name, code).
    #[error("{0}")]
    Invalid(&'static str),
    /// The account to create exists already (an administrator's invitation).
    #[error("{0}")]
    Exists(&'static str),
    /// The password breaks the tenant's policy.
    #[error(transparent)]
    WeakPassword(#[from] PasswordRejection),
    /// The current password is wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    /// The link or code is unknown, used, replaced or expired.
    #[error("link or code not usable: {0:?}")]
    NotUsable(Refusal),
    /// The code is wrong (the token stays usable until its limit).
    #[error("wrong code")]
    WrongCode,
    /// Too many requests.
    #[error(transparent)]
    Throttled(#[from] Throttled),
    /// The action needs a sign-in within the last few minutes.
    #[error("a fresh sign-in is needed")]
    NeedsFreshLogin,
    /// The hashing pool is busy.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Randomness failed.
    #[error(transparent)]
    Crypto(#[from] holdfast_crypto::CryptoError),
}

impl From<ThrottleError> for AccountError {
    fn from(e: ThrottleError) -> Self {
        match e {
            ThrottleError::Throttled(t) => Self::Throttled(t),
            ThrottleError::Store(e) => Self::Store(e),
        }
    }
}

impl AccountError {
    /// Whether the server, not the request, is at fault (a 5xx).
    pub fn is_server_side(&self) -> bool {
        matches!(self, Self::Store(_) | Self::Crypto(_) | Self::Password(_))
    }

    /// What the user is told.
    pub fn user_message(&self) -> String {
        match self {
            Self::RegistrationClosed => "New accounts cannot be created here.".to_owned(),
            Self::Invalid(message) | Self::Exists(message) => (*message).to_owned(),
            Self::WeakPassword(why) => format!("Choose another password: {why}."),
            Self::WrongPassword => "Your current password is not right.".to_owned(),
            Self::NotUsable(_) => {
                "This link or code has expired or was already used. Ask for a new one.".to_owned()
            }
            Self::WrongCode => {
                "That code is not right, or no longer works. Check the message and try again, or ask for a new code.".to_owned()
            }
            Self::Throttled(t) => {
                let minutes = (t.retry_after_secs + 59) / 60;
                format!(
                    "Too many requests. Please try again in {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                )
            }
            Self::NeedsFreshLogin => "Please sign in again to do this.".to_owned(),
            Self::Password(PasswordError::Busy) => {
                "The server is busy. Please try again in a moment.".to_owned()
            }
            Self::Password(_) | Self::Store(_) | Self::Crypto(_) => {
                tracing::error!(error = %self, "self-service request failed on the server side");
                "The server is temporarily unavailable. Please try again shortly.".to_owned()
            }
        }
    }
}

/// What a sign-up form submits.
#[derive(Debug)]
pub struct SignUp<'a> {
    /// Email address (also the username).
    pub email: &'a str,
    /// Display name, optional.
    pub name: &'a str,
    /// Chosen password.
    pub password: SecretString,
}

/// What happened after a sign-up.
#[derive(Debug)]
pub enum SignUpOutcome {
    /// Verification is optional: the new user may go on signed in.
    SignedIn(User),
    /// Verification is required (or the address is taken, which looks the
    /// same): the page asks for the mailed code; `ticket` names the token.
    CheckEmail {
        /// The address the mail went to.
        email: String,
        /// What the code form carries to name the token (its digest).
        ticket: String,
        /// Whether the tenant requires verification; `false` only for a
        /// taken address where it is optional (nothing was mailed to verify).
        required: bool,
    },
}

/// A redeemed link or code: who, and the request to resume, if any.
#[derive(Debug)]
pub struct Redeemed {
    /// The user as they are now.
    pub user: User,
    /// The token as it was.
    pub token: AccountTokenRecord,
}

/// A new mailed token: the record to store and the link's secret.
struct Minted {
    record: AccountTokenRecord,
    link: String,
    code: Option<String>,
}

/// The tenant's account settings in force (read on each use, so a change
/// applies without a restart).
pub async fn policy(state: &AppState, tenant: &Tenant) -> Result<AccountPolicy, StoreError> {
    Ok(state
        .store
        .tenant_account_policy(&tenant.id)
        .await?
        .unwrap_or_default())
}

/// Whether anyone may sign up to `tenant` (a store failure: no).
pub async fn registration_open(state: &AppState, tenant: &Tenant) -> bool {
    match policy(state, tenant).await {
        Ok(p) => p.registration == Registration::Open,
        Err(e) => {
            tracing::warn!(error = %e, "account policy unreadable; registration treated as closed");
            false
        }
    }
}

/// Whether sign-in waits for a verified address in `tenant` (a store
/// failure: it does, the safe side).
pub async fn verification_required(state: &AppState, tenant: &Tenant) -> bool {
    policy(state, tenant).await.map_or(true, |p| {
        p.email_verification == EmailVerification::Required
    })
}

/// An audit event of kind `account` about `user_id`: what the user (or a
/// request on their behalf) did, and from where.
pub fn account_event(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    reason: &str,
    context: &RequestContext,
) -> holdfast_store::AuditEvent {
    audit::about(
        state,
        tenant,
        "account",
        None,
        Some(user_id),
        None,
        reason,
        context,
    )
}

/// The fewest password characters the tenant accepts (for the forms' hint).
pub async fn min_password_length(state: &AppState, tenant: &Tenant) -> u32 {
    policy(state, tenant)
        .await
        .map(|p| p.password.min_length)
        .unwrap_or(holdfast_core::accounts::NIST_MIN_LENGTH)
}

fn link_url(issuer: &Url, page: &str, token: &SecretString) -> String {
    let mut url = issuer.clone();
    url.set_path(&format!("{}/{page}", issuer.path().trim_end_matches('/')));
    url.query_pairs_mut().append_pair("token", token.expose());
    url.into()
}

fn code_key(state: &AppState, tenant: &Tenant) -> zeroize::Zeroizing<[u8; 32]> {
    state
        .keys
        .derive(format!("holdfast:account-code:v1:{}", tenant.id).as_bytes())
}

fn code_digest(state: &AppState, tenant: &Tenant, ticket: &str, code: &str) -> String {
    use base64::Engine;
    let mac = hmac_sha256(
        code_key(state, tenant).as_ref(),
        format!("{ticket}\n{code}").as_bytes(),
    );
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.as_ref())
}

fn random_code() -> Result<String, holdfast_crypto::CryptoError> {
    loop {
        let mut bytes = [0u8; 4];
        random_bytes(&mut bytes)?;
        if let Some(code) = self_service::code_from_random(u32::from_be_bytes(bytes)) {
            return Ok(code);
        }
    }
}

/// A ticket that names no token (for answers that must look like a real
/// one): a random digest.
fn decoy_ticket() -> Result<String, holdfast_crypto::CryptoError> {
    let mut bytes = [0u8; 32];
    random_bytes(&mut bytes)?;
    Ok(sha256_b64(&bytes))
}

#[allow(clippy::too_many_arguments)]
fn mint(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    user_id: &str,
    purpose: Purpose,
    email: &str,
    continuation: Option<String>,
) -> Result<Minted, AccountError> {
    let secret = generate_token(purpose.prefix())?;
    let digest = sha256_b64(secret.expose().as_bytes());
    let page = match purpose {
        Purpose::VerifyEmail => "verify-email",
        Purpose::ResetPassword | Purpose::Invite => "reset-password",
    };
    let code = match purpose {
        Purpose::VerifyEmail => Some(random_code()?),
        _ => None,
    };
    let now = state.now();
    Ok(Minted {
        record: AccountTokenRecord {
            code_digest: code
                .as_deref()
                .map(|c| code_digest(state, tenant, &digest, c)),
            digest,
            tenant_id: tenant.id.clone(),
            user_id: user_id.to_owned(),
            purpose,
            email: email.to_owned(),
            code_failures: 0,
            continuation,
            created_at: now,
            expires_at: now + purpose.ttl_secs(),
            consumed_at: None,
        },
        link: link_url(issuer, page, &secret),
        code,
    })
}

fn greeting(user_name: Option<&str>, fallback: &str) -> String {
    user_name.unwrap_or(fallback).to_owned()
}

fn verification_mail(tenant: &Tenant, name: &str, minted: &Minted) -> AccountMail {
    AccountMail {
        subject: format!("Verify your email for {}", tenant.display_name),
        greeting_name: name.to_owned(),
        paragraphs: vec![format!(
            "Confirm that this address is yours to use it with your {} account.",
            tenant.display_name
        )],
        link: Some(minted.link.clone()),
        link_label: "Verify my email".to_owned(),
        code: minted.code.clone(),
        footer: "The link and the code work once and expire in 24 hours. If you did not ask for this, ignore this message.".to_owned(),
    }
}

fn reset_mail(tenant: &Tenant, name: &str, link: &str, why: &str) -> AccountMail {
    AccountMail {
        subject: format!("Reset your {} password", tenant.display_name),
        greeting_name: name.to_owned(),
        paragraphs: vec![why.to_owned()],
        link: Some(link.to_owned()),
        link_label: "Choose a new password".to_owned(),
        code: None,
        footer: "The link works once and expires in 30 minutes. If you did not ask for this, ignore this message: your password has not changed.".to_owned(),
    }
}

fn mails(state: &AppState, tenant: &Tenant, list: &[(&str, AccountMail)]) -> Vec<OutgoingMail> {
    list.iter()
        .filter_map(|(to, m)| account_mail(state, tenant, to, m))
        .collect()
}

/// A new account's address, name and username, parsed as sign-up and
/// invitations take them.
struct NewPerson {
    email: String,
    name: Option<String>,
    username: Username,
}

fn new_person(email: &str, name: &str) -> Result<NewPerson, AccountError> {
    let email = parse_email(email).map_err(|_| {
        AccountError::Invalid("Enter a valid email address (at most 320 characters).")
    })?;
    let name = self_service::parse_person_name(name)
        .map_err(|_| AccountError::Invalid("Names are at most 200 characters."))?;
    let username = Username::parse(&email)
        .map_err(|_| AccountError::Invalid("Enter a valid email address."))?;
    Ok(NewPerson {
        email,
        name,
        username,
    })
}

/// The account that already has `person`'s username or address, if any.
async fn existing_account(
    state: &AppState,
    tenant: &Tenant,
    person: &NewPerson,
) -> Result<Option<User>, StoreError> {
    if let Some(record) = state
        .store
        .user_by_username(&tenant.id, person.username.normalized())
        .await?
    {
        return Ok(Some(record.user));
    }
    Ok(state
        .store
        .users_by_email(&tenant.id, &person.email)
        .await?
        .into_iter()
        .next())
}

/// Stores the account for `person` (its id: the first token's user) with
/// that token, the mail and the audit event, in one transaction.
async fn register(
    state: &AppState,
    tenant: &Tenant,
    person: &NewPerson,
    password_hash: &str,
    minted: &Minted,
    mail: &[OutgoingMail],
    event: &holdfast_store::AuditEvent,
) -> Result<User, StoreError> {
    state
        .store
        .register_user(
            &NewAccount {
                id: &minted.record.user_id,
                tenant_id: &tenant.id,
                username: &person.username,
                email: &person.email,
                display_name: person.name.as_deref(),
                password_hash,
                now: state.now(),
            },
            Some(&minted.record),
            mail,
            event,
        )
        .await
}

/// Signs a new user up (registration must be `open`). The verification
/// mail is queued with the account; `continuation` (the authorization
/// request) is kept with its link, so following it resumes the request.
pub async fn sign_up(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    input: SignUp<'_>,
    continuation: Option<String>,
    context: &RequestContext,
) -> Result<SignUpOutcome, AccountError> {
    let policy = policy(state, tenant).await?;
    if policy.registration != Registration::Open {
        return Err(AccountError::RegistrationClosed);
    }
    let person = new_person(input.email, input.name)?;
    let email = person.email.clone();
    throttle::before_account_request(state, tenant, "signup", &email, context).await?;
    policy
        .password
        .check(input.password.expose(), Some(person.username.display()))?;
    let greet = greeting(person.name.as_deref(), &email);
    let required = policy.email_verification == EmailVerification::Required;
    let existing = existing_account(state, tenant, &person).await?;
    // Hashing happens either way, so the answer takes as long.
    let hash = state.passwords.hash(input.password).await?;
    if let Some(user) = existing {
        // Only the account's own current address hears of it: a username
        // that was once this address may belong to someone who moved on.
        if user
            .email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(&email))
        {
            account_exists(state, tenant, issuer, &user, context).await?;
        }
        return Ok(SignUpOutcome::CheckEmail {
            email,
            ticket: decoy_ticket()?,
            required,
        });
    }
    let id = uuid::Uuid::now_v7().to_string();
    let minted = mint(
        state,
        tenant,
        issuer,
        &id,
        Purpose::VerifyEmail,
        &email,
        continuation.filter(|_| required),
    )?;
    let queued = mails(
        state,
        tenant,
        &[(&email, verification_mail(tenant, &greet, &minted))],
    );
    let event = account_event(state, tenant, &id, "signed_up", context);
    let registered = register(state, tenant, &person, &hash, &minted, &queued, &event).await;
    match registered {
        Ok(_) if required => Ok(SignUpOutcome::CheckEmail {
            email,
            ticket: minted.record.digest,
            required,
        }),
        Ok(user) => Ok(SignUpOutcome::SignedIn(user)),
        // A race with another sign-up, or a lookalike name: taken, and the
        // answer says what it says for a taken address.
        Err(StoreError::Conflict(_)) => Ok(SignUpOutcome::CheckEmail {
            email,
            ticket: decoy_ticket()?,
            required,
        }),
        Err(e) => Err(e.into()),
    }
}

/// Invites `email` (`holdfast user invite`, the admin API's invitations):
/// a new account named by the address, with no usable password, and a
/// mailed link (7 days) to choose one; using it verifies the address. The
/// account, the link, the mail and the audit event (naming `actor`, the
/// administrator) are one transaction. An address that has an account is
/// refused (an administrator may be told).
pub async fn invite(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    email: &str,
    name: Option<&str>,
    actor: Option<&str>,
    context: &RequestContext,
) -> Result<User, AccountError> {
    let person = new_person(email, name.unwrap_or_default())?;
    if existing_account(state, tenant, &person).await?.is_some() {
        return Err(AccountError::Exists(
            "An account with this address already exists.",
        ));
    }
    // No password until the invitee chooses one: the hash of a secret
    // nobody keeps.
    let unusable = generate_token("hfinv_")?;
    let hash = state.passwords.hash(unusable).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let email = person.email.as_str();
    let minted = mint(state, tenant, issuer, &id, Purpose::Invite, email, None)?;
    let invitation = AccountMail {
        subject: format!("You are invited to {}", tenant.display_name),
        greeting_name: greeting(person.name.as_deref(), email),
        paragraphs: vec![format!(
            "An administrator of {} created an account for you. Choose a password to start using it:",
            tenant.display_name
        )],
        link: Some(minted.link.clone()),
        link_label: "Choose my password".to_owned(),
        code: None,
        footer: "The link works once and expires in 7 days. If you did not expect this, ignore this message.".to_owned(),
    };
    let queued = mails(state, tenant, &[(email, invitation)]);
    let mut event = account_event(state, tenant, &id, "invited", context);
    event.actor = actor.map(str::to_owned);
    register(state, tenant, &person, &hash, &minted, &queued, &event)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => AccountError::Exists(
                "An account with this address (or one like it) already exists.",
            ),
            other => other.into(),
        })
}

/// The mail to an address that already has an account: a reset link, to
/// the account's own address, greeting them by their own name.
async fn account_exists(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    user: &User,
    context: &RequestContext,
) -> Result<(), AccountError> {
    let Some(email) = user.email.as_deref() else {
        return Ok(());
    };
    let minted = mint(
        state,
        tenant,
        issuer,
        &user.id,
        Purpose::ResetPassword,
        email,
        None,
    )?;
    let why = format!(
        "Someone (hopefully you) tried to create a {} account with this address, but it already has one. If you forgot its password, choose a new one:",
        tenant.display_name
    );
    let greet = greeting(user.display_name.as_deref(), &user.username);
    let queued = mails(
        state,
        tenant,
        &[(email, reset_mail(tenant, &greet, &minted.link, &why))],
    );
    let event = account_event(
        state,
        tenant,
        &user.id,
        "signup_for_existing_account",
        context,
    );
    state
        .store
        .issue_account_token(&minted.record, &queued, &event)
        .await?;
    Ok(())
}

/// Sends `user` a new verification link and code for `email` (their
/// address, or the new one they asked to change to); the ticket that names
/// it for the code form. Throttled per address and email.
#[allow(clippy::too_many_arguments)]
pub async fn send_verification(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    user: &User,
    email: &str,
    continuation: Option<String>,
    also_notify: Option<(&str, AccountMail)>,
    context: &RequestContext,
) -> Result<String, AccountError> {
    throttle::before_account_request(state, tenant, "verify", email, context).await?;
    let minted = mint(
        state,
        tenant,
        issuer,
        &user.id,
        Purpose::VerifyEmail,
        email,
        continuation,
    )?;
    let greet = greeting(user.display_name.as_deref(), &user.username);
    let mut list = vec![(email, verification_mail(tenant, &greet, &minted))];
    if let Some(notice) = also_notify {
        list.push(notice);
    }
    let queued = mails(state, tenant, &list);
    let event = account_event(state, tenant, &user.id, "verification_sent", context);
    state
        .store
        .issue_account_token(&minted.record, &queued, &event)
        .await?;
    Ok(minted.record.digest)
}

/// The stored token a link names, if it is usable now and for one of
/// `purposes` (a verification link is no reset link).
pub async fn usable_token(
    state: &AppState,
    tenant: &Tenant,
    link_token: &str,
    purposes: &[Purpose],
) -> Result<AccountTokenRecord, AccountError> {
    let digest = sha256_b64(link_token.as_bytes());
    let Some(token) = state.store.account_token(&tenant.id, &digest).await? else {
        return Err(AccountError::NotUsable(Refusal::Unknown));
    };
    if !purposes.contains(&token.purpose) {
        return Err(AccountError::NotUsable(Refusal::Unknown));
    }
    self_service::usable(
        token.expires_at,
        token.consumed_at,
        token.code_failures,
        state.now(),
    )
    .map_err(AccountError::NotUsable)?;
    Ok(token)
}

async fn redeem_verification(
    state: &AppState,
    tenant: &Tenant,
    token: AccountTokenRecord,
    how: &str,
    context: &RequestContext,
) -> Result<Redeemed, AccountError> {
    let event = account_event(state, tenant, &token.user_id, how, context);
    let user = state
        .store
        .redeem_account_token(
            &tenant.id,
            &token.digest,
            state.now(),
            Redeem::VerifyEmail,
            &[],
            &event,
        )
        .await
        .map_err(spent_if_missing)?;
    Ok(Redeemed { user, token })
}

/// A token that was usable when read but is gone when spent: another
/// request spent it first.
fn spent_if_missing(e: StoreError) -> AccountError {
    match e {
        StoreError::NotFound(_) => AccountError::NotUsable(Refusal::Spent),
        other => other.into(),
    }
}

/// Verifies an address by its mailed link.
pub async fn verify_link(
    state: &AppState,
    tenant: &Tenant,
    link_token: &str,
    context: &RequestContext,
) -> Result<Redeemed, AccountError> {
    let token = usable_token(state, tenant, link_token, &[Purpose::VerifyEmail]).await?;
    redeem_verification(state, tenant, token, "email_verified_by_link", context).await
}

/// Verifies an address by its mailed code, typed into the form that
/// carries `ticket`. A wrong code counts against the token
/// ([`self_service::MAX_CODE_FAILURES`] spend it) and the address.
pub async fn verify_code(
    state: &AppState,
    tenant: &Tenant,
    ticket: &str,
    code: &str,
    context: &RequestContext,
) -> Result<Redeemed, AccountError> {
    throttle::before_account_request(state, tenant, "code", ticket, context).await?;
    let code =
        self_service::parse_code(code).ok_or(AccountError::Invalid("The code is six digits."))?;
    // Every refusal of a code reads the same (`WrongCode`): a ticket that
    // names nothing (a taken address's decoy) must not be told apart from
    // a real one spent by wrong codes, or the code form would reveal that
    // an address has an account.
    let Some(token) = state.store.account_token(&tenant.id, ticket).await? else {
        return Err(AccountError::WrongCode);
    };
    if token.purpose != Purpose::VerifyEmail {
        return Err(AccountError::WrongCode);
    }
    self_service::usable(
        token.expires_at,
        token.consumed_at,
        token.code_failures,
        state.now(),
    )
    .map_err(|_| AccountError::WrongCode)?;
    let expected = code_digest(state, tenant, &token.digest, &code);
    let matches = token
        .code_digest
        .as_deref()
        .is_some_and(|stored| constant_time_eq(stored.as_bytes(), expected.as_bytes()));
    if !matches {
        let failures = state
            .store
            .account_code_failed(&tenant.id, &token.digest)
            .await?;
        tracing::debug!(failures, "wrong verification code");
        return Err(AccountError::WrongCode);
    }
    redeem_verification(state, tenant, token, "email_verified_by_code", context).await
}

/// Starts recovery for `identifier` (a username or an email address): if
/// it names a user with an address, mails them a reset link (keeping
/// `continuation`). Answers the same either way.
pub async fn request_reset(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    identifier: &str,
    continuation: Option<String>,
    context: &RequestContext,
) -> Result<(), AccountError> {
    let identifier = identifier.trim();
    if identifier.is_empty() || identifier.len() > 320 {
        return Err(AccountError::Invalid(
            "Enter your email address or username.",
        ));
    }
    throttle::before_account_request(state, tenant, "recover", identifier, context).await?;
    let normalized = holdfast_core::user::normalize_username(identifier);
    let user = match state
        .store
        .user_by_username(&tenant.id, &normalized)
        .await?
    {
        Some(record) if record.disabled_at.is_none() => Some(record.user),
        Some(_) => None,
        None if identifier.contains('@') => {
            let mut found = None;
            for user in state.store.users_by_email(&tenant.id, identifier).await? {
                let live = state
                    .store
                    .user_by_id(&tenant.id, &user.id)
                    .await?
                    .is_some_and(|r| r.disabled_at.is_none());
                if live {
                    found = Some(user);
                    break;
                }
            }
            found
        }
        None => None,
    };
    let Some(user) = user else {
        tracing::info!(tenant = %tenant.slug, "password reset asked for no usable account");
        return Ok(());
    };
    let Some(email) = user.email.clone() else {
        tracing::info!(tenant = %tenant.slug, user_id = %user.id, "password reset asked for a user without an address");
        return Ok(());
    };
    issue_reset(state, tenant, issuer, &user, &email, continuation, context).await
}

/// Mails `user` a reset link (also an administrator's, `admin::send_password_reset`).
pub async fn issue_reset(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    user: &User,
    email: &str,
    continuation: Option<String>,
    context: &RequestContext,
) -> Result<(), AccountError> {
    let minted = mint(
        state,
        tenant,
        issuer,
        &user.id,
        Purpose::ResetPassword,
        email,
        continuation,
    )?;
    let greet = greeting(user.display_name.as_deref(), &user.username);
    let why = format!(
        "Someone (hopefully you) asked to reset the password of your {} account.",
        tenant.display_name
    );
    let queued = mails(
        state,
        tenant,
        &[(email, reset_mail(tenant, &greet, &minted.link, &why))],
    );
    let event = account_event(state, tenant, &user.id, "password_reset_sent", context);
    state
        .store
        .issue_account_token(&minted.record, &queued, &event)
        .await?;
    Ok(())
}

/// Sets a new password through a reset link: every session of the user
/// ends, and a notice is mailed.
pub async fn reset_password(
    state: &AppState,
    tenant: &Tenant,
    link_token: &str,
    password: SecretString,
    context: &RequestContext,
) -> Result<Redeemed, AccountError> {
    let token = usable_token(
        state,
        tenant,
        link_token,
        &[Purpose::ResetPassword, Purpose::Invite],
    )
    .await?;
    let Some(record) = state.store.user_by_id(&tenant.id, &token.user_id).await? else {
        return Err(AccountError::NotUsable(Refusal::Unknown));
    };
    if record.disabled_at.is_some() {
        return Err(AccountError::NotUsable(Refusal::Unknown));
    }
    policy(state, tenant)
        .await?
        .password
        .check(password.expose(), Some(&record.user.username))?;
    let hash = state.passwords.hash(password).await?;
    let notice = match token.purpose {
        Purpose::Invite => None,
        _ => password_changed(state, tenant, &record.user, false),
    };
    let event = account_event(state, tenant, &token.user_id, "password_reset", context);
    let user = state
        .store
        .redeem_account_token(
            &tenant.id,
            &token.digest,
            state.now(),
            Redeem::SetPassword {
                password_hash: &hash,
            },
            notice.as_slice(),
            &event,
        )
        .await
        .map_err(spent_if_missing)?;
    Ok(Redeemed { user, token })
}

/// Changes the password of `user_id` (the account page, the API): the
/// current password is needed unless the sign-in is fresh. Every session
/// ends (the account page starts a new browser session for this browser)
/// and a notice is mailed. A missing or disabled user:
/// `NotUsable(Refusal::Unknown)`.
pub async fn change_password(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    current: Option<SecretString>,
    fresh_login: bool,
    new_password: SecretString,
    context: &RequestContext,
) -> Result<(), AccountError> {
    let record = state
        .store
        .user_by_id(&tenant.id, user_id)
        .await?
        .filter(|r| r.disabled_at.is_none())
        .ok_or(AccountError::NotUsable(Refusal::Unknown))?;
    let user = &record.user;
    match current {
        Some(current) if !current.expose().is_empty() => {
            throttle::before_account_request(state, tenant, "password", &user.id, context).await?;
            let ok = state
                .passwords
                .verify(current, Some(record.password_hash.clone()))
                .await?;
            if !ok {
                return Err(AccountError::WrongPassword);
            }
        }
        _ if fresh_login => {}
        _ => return Err(AccountError::WrongPassword),
    }
    policy(state, tenant)
        .await?
        .password
        .check(new_password.expose(), Some(&user.username))?;
    let hash = state.passwords.hash(new_password).await?;
    let event = account_event(state, tenant, &user.id, "password_changed", context);
    state
        .store
        .set_user_password(
            &tenant.id,
            &user.id,
            &hash,
            event.at,
            &event,
            password_changed(state, tenant, user, false).as_ref(),
        )
        .await?;
    Ok(())
}

/// Starts a change of address: the new one gets a verification link and
/// code (the change happens when it is used), the old one a notice.
pub async fn change_email(
    state: &AppState,
    tenant: &Tenant,
    issuer: &Url,
    user: &User,
    new_email: &str,
    context: &RequestContext,
) -> Result<(String, String), AccountError> {
    let email = parse_email(new_email).map_err(|_| {
        AccountError::Invalid("Enter a valid email address (at most 320 characters).")
    })?;
    let greet = greeting(user.display_name.as_deref(), &user.username);
    let notice = user.email.as_deref().filter(|old| !old.eq_ignore_ascii_case(&email)).map(|old| {
        (
            old,
            AccountMail {
                subject: format!("Your {} email address is being changed", tenant.display_name),
                greeting_name: greet.clone(),
                paragraphs: vec![format!(
                    "Someone signed in to your {} account asked to change its email address to {}. The change happens when the new address is verified.",
                    tenant.display_name,
                    mask_email(&email)
                )],
                link: None,
                link_label: String::new(),
                code: None,
                footer: "If this was not you, change your password now and sign out your other devices on your account page.".to_owned(),
            },
        )
    });
    let ticket =
        send_verification(state, tenant, issuer, user, &email, None, notice, context).await?;
    Ok((email, ticket))
}

/// `ada@example.com` → `a**@example.com`.
fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}**@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// The issuer URL of `tenant` (for links made outside a request: the CLI).
pub fn issuer_of(state: &AppState, tenant: &Tenant) -> Url {
    issuer_url(&state.public_url, &tenant.slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_notices_are_masked() {
        assert_eq!(mask_email("ada@example.com"), "a**@example.com");
        assert_eq!(mask_email("nonsense"), "***");
    }
}
