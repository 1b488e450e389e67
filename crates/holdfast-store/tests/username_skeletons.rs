//! Lookalike usernames (issue 11 §4, Unicode UTS #39) in the store, on
//! SQLite and PostgreSQL: the confusable skeleton is unique per tenant, so
//! of several lookalikes created at once exactly one wins; usernames stored
//! before skeletons existed (or by an older binary during an upgrade) get
//! theirs filled in from code, at connect and before each user creation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use holdfast_core::keys::{KeyState, SigningAlg};
use holdfast_core::tenant::{Tenant, TenantSlug};
use holdfast_core::user::Username;
use holdfast_store::testing::{Backend, TestDatabase};
use holdfast_store::{Store, StoreError, StoredKey, connect};
use sqlx::Connection as _;

async fn tenant(store: &dyn Store, id: &str) -> Tenant {
    let t = Tenant {
        id: id.to_owned(),
        slug: TenantSlug::parse(id).unwrap(),
        display_name: id.to_owned(),
        signing_alg: SigningAlg::ES256,
        default_audience: None,
        created_at: 1,
        branding: Default::default(),
    };
    let key = |kid: &str, state| StoredKey {
        kid: format!("{id}-{kid}"),
        alg: SigningAlg::ES256,
        state,
        private_sealed: vec![1],
        public_jwk: "{}".to_owned(),
        created_at: 1,
        activated_at: None,
        retired_at: None,
    };
    store
        .create_tenant(&t, &[key("c", KeyState::Current), key("n", KeyState::Next)])
        .await
        .unwrap();
    t
}

async fn create(
    store: &dyn Store,
    tenant: &Tenant,
    id: &str,
    name: &str,
) -> Result<(), StoreError> {
    let name = Username::parse(name).unwrap();
    store
        .create_user(id, &tenant.id, &name, None, "$argon2id$x", 5)
        .await
        .map(|_| ())
}

/// Runs `sql` on the test database directly, as an older Holdfast (one
/// that knows no skeleton column) would have left the rows.
async fn raw(backend: Backend, url: &str, sql: &'static str) -> Vec<Option<String>> {
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
        }
    }
}

async fn uts39_lookalikes_conflict_even_when_created_at_once(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let store = connect(&db.url).await.unwrap();
    let t = tenant(&*store, "acme").await;
    create(&*store, &t, "u0", "alice").await.unwrap();
    let err = create(&*store, &t, "u1", "\u{0430}lice").await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("user")), "{err:?}");
    // Another tenant may have its own alice lookalike.
    let other = tenant(&*store, "beta").await;
    create(&*store, &other, "u2", "\u{0430}lice").await.unwrap();

    // Lookalikes of "bob" with different comparison keys, all at once.
    let names = [
        "b\u{043E}b", // Cyrillic о
        "b\u{03BF}b", // Greek ο
        "b\u{0585}b", // Armenian օ
        "b\u{1D0F}b", // small capital ᴏ
        "b\u{0D20}b", // Malayalam ഠ
    ];
    let bob = Username::parse("bob").unwrap();
    for name in names {
        let parsed = Username::parse(name).unwrap();
        assert_eq!(parsed.skeleton(), bob.skeleton(), "{name:?} looks like bob");
        assert_ne!(parsed.normalized(), bob.normalized());
    }
    let store: Arc<dyn Store> = store;
    let mut tasks = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (store, t, name) = (store.clone(), t.clone(), (*name).to_owned());
        tasks.push(tokio::spawn(async move {
            create(&*store, &t, &format!("b{i}"), &name).await
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::Conflict("user")) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one of the lookalikes is created");
}

async fn usernames_stored_without_a_skeleton_get_it_filled_from_code(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let store = connect(&db.url).await.unwrap();
    let t = tenant(&*store, "acme").await;
    create(&*store, &t, "u0", "alice").await.unwrap();
    create(&*store, &t, "u1", "bob").await.unwrap();
    // As an older binary left them.
    raw(
        backend,
        &db.url,
        "UPDATE users SET username_skeleton = NULL RETURNING id",
    )
    .await;

    // Creating a user fills the tenant's missing skeletons first.
    let err = create(&*store, &t, "u2", "\u{0430}lice").await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("user")), "{err:?}");

    // Connecting fills every missing skeleton.
    raw(
        backend,
        &db.url,
        "UPDATE users SET username_skeleton = NULL RETURNING id",
    )
    .await;
    drop(store);
    let store = connect(&db.url).await.unwrap();
    let missing = raw(
        backend,
        &db.url,
        "SELECT id FROM users WHERE username_skeleton IS NULL",
    )
    .await;
    assert!(missing.is_empty(), "{missing:?}");
    let err = create(&*store, &t, "u3", "b\u{043E}b").await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("user")), "{err:?}");
    create(&*store, &t, "u4", "carol").await.unwrap();
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(super::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(super::Backend::Postgres).await }
            )*
        }
    };
}

both!(
    uts39_lookalikes_conflict_even_when_created_at_once,
    usernames_stored_without_a_skeleton_get_it_filled_from_code,
);
