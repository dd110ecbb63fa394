//! The revocation feed: sessions, user-wide not_before, feed token, task
//! lifetime, fail-closed option.

mod common;

use std::time::Duration;

use common::*;
use portcullis_verify::{Verifier, VerifyError};

#[tokio::test]
async fn revoked_session_is_refused_within_two_seconds_while_others_verify() {
    let (issuer, ed, ec) = issuer_with_keys().await;
    let verifier = Verifier::new(issuer.config()).await.unwrap();
    let victim = claims(&issuer.url);
    let bystander = claims(&issuer.url);
    // Same user, another session: must survive a single-session revocation.
    let mut sibling = claims(&issuer.url);
    sibling["sub"] = victim["sub"].clone();
    let victim_token = ed.token(&victim);
    let victim_es_token = ec.token(&victim);
    verifier.verify(&victim_token).await.unwrap();

    issuer.revoke_session(victim["sid"].as_str().unwrap());
    let took = within(Duration::from_secs(2), || {
        let v = verifier.clone();
        let t = victim_token.clone();
        async move { v.verify(&t).await == Err(VerifyError::Revoked) }
    })
    .await
    .expect("revoked session still accepted after 2 s");
    assert!(took < Duration::from_secs(2), "{took:?}");
    // Every token of the session is refused, whatever key signed it.
    assert_eq!(
        verifier.verify(&victim_es_token).await.unwrap_err(),
        VerifyError::Revoked
    );
    verifier.verify(&ed.token(&bystander)).await.unwrap();
    verifier.verify(&ed.token(&sibling)).await.unwrap();
    assert!(verifier.revocation_cursor().is_some());
}

#[tokio::test]
async fn revocations_published_before_start_are_applied_at_once() {
    let (issuer, ed, _) = issuer_with_keys().await;
    let c = claims(&issuer.url);
    issuer.revoke_session(c["sid"].as_str().unwrap());
    let verifier = Verifier::new(issuer.config()).await.unwrap();
    assert_eq!(
        verifier.verify(&ed.token(&c)).await.unwrap_err(),
        VerifyError::Revoked
    );
    assert_eq!(
        verifier.verify_cached(&ed.token(&c)).unwrap_err(),
        VerifyError::Revoked
    );
}

#[tokio::test]
async fn user_not_before_refuses_older_tokens_and_accepts_newer() {
    let (issuer, ed, _) = issuer_with_keys().await;
    let verifier = Verifier::new(issuer.config()).await.unwrap();
    let t = now();
    let user = unique("user-");
    let token_at = |iat: i64| {
        let mut c = claims(&issuer.url);
        c["sub"] = user.clone().into();
        c["iat"] = iat.into();
        c["nbf"] = iat.into();
        ed.token(&c)
    };
    let old = token_at(t - 120);
    let just_before = token_at(t - 61);
    let at_cutoff = token_at(t - 60);
    let new = token_at(t);
    let other_user = ed.token(&claims(&issuer.url));
    for token in [&old, &just_before, &at_cutoff, &new, &other_user] {
        verifier.verify(token).await.unwrap();
    }

    issuer.revoke_user(&user, t - 60);
    within(Duration::from_secs(2), || {
        let v = verifier.clone();
        let old = old.clone();
        async move { v.verify(&old).await == Err(VerifyError::Revoked) }
    })
    .await
    .expect("user-wide revocation not applied within 2 s");
    assert_eq!(
        verifier.verify(&just_before).await.unwrap_err(),
        VerifyError::Revoked
    );
    verifier.verify(&at_cutoff).await.unwrap();
    verifier.verify(&new).await.unwrap();
    verifier.verify(&other_user).await.unwrap();

    // A later cut-off moves forward; an earlier one never moves it back.
    issuer.revoke_user(&user, t + 1);
    issuer.revoke_user(&user, t - 1000);
    within(Duration::from_secs(2), || {
        let v = verifier.clone();
        let new = new.clone();
        async move { v.verify(&new).await == Err(VerifyError::Revoked) }
    })
    .await
    .expect("second not_before not applied");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        verifier.verify(&new).await.unwrap_err(),
        VerifyError::Revoked
    );
}

#[tokio::test]
async fn feed_token_is_sent_when_configured() {
    let (issuer, ed, _) = issuer_with_keys().await;
    issuer.require_feed_token("feed-secret");
    let err = Verifier::new(issuer.config()).await.unwrap_err();
    assert!(
        matches!(err, VerifyError::Feed(ref m) if m.contains("401")),
        "{err:?}"
    );

    let mut config = issuer.config();
    config.feed_token = Some("feed-secret".into());
    let verifier = Verifier::new(config).await.unwrap();
    let c = claims(&issuer.url);
    issuer.revoke_session(c["sid"].as_str().unwrap());
    within(Duration::from_secs(2), || {
        let v = verifier.clone();
        let t = ed.token(&c);
        async move { v.verify(&t).await == Err(VerifyError::Revoked) }
    })
    .await
    .expect("revocation behind a feed token not applied");
}

#[tokio::test]
async fn not_following_revocations_never_calls_the_feed() {
    let (issuer, ed, _) = issuer_with_keys().await;
    issuer.set_feed_down(true);
    let mut config = issuer.config();
    config.follow_revocations = false;
    let verifier = Verifier::new(config).await.unwrap();
    let c = claims(&issuer.url);
    issuer.revoke_session(c["sid"].as_str().unwrap());
    tokio::time::sleep(Duration::from_millis(600)).await;
    verifier.verify(&ed.token(&c)).await.unwrap();
    assert_eq!(issuer.feed_hits(), 0);
}

#[tokio::test]
async fn feed_unreachable_at_start_fails_construction() {
    let (issuer, _, _) = issuer_with_keys().await;
    issuer.set_feed_down(true);
    let err = Verifier::new(issuer.config()).await.unwrap_err();
    assert!(matches!(err, VerifyError::Feed(_)), "{err:?}");
}

#[tokio::test]
async fn background_polling_stops_when_the_last_clone_is_dropped() {
    let (issuer, _, _) = issuer_with_keys().await;
    let mut config = issuer.config();
    config.poll_interval = Duration::from_millis(50);
    let verifier = Verifier::new(config).await.unwrap();
    let clone = verifier.clone();
    drop(verifier);
    // Still polling while a clone lives.
    let before = issuer.feed_hits();
    // Generous: on a loaded machine a 50 ms poll can take far longer than 50 ms.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        issuer.feed_hits() >= before + 3,
        "not polling: {}",
        issuer.feed_hits()
    );
    drop(clone);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let after_drop = issuer.feed_hits();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        issuer.feed_hits(),
        after_drop,
        "task kept polling after drop"
    );
}

#[tokio::test]
async fn feed_outage_fails_open_by_default_and_closed_when_configured() {
    let (issuer, ed, _) = issuer_with_keys().await;
    let mut config = issuer.config();
    config.poll_interval = Duration::from_millis(50);
    let open = Verifier::new(config.clone()).await.unwrap();
    config.max_feed_staleness = Some(Duration::from_millis(300));
    let closed = Verifier::new(config).await.unwrap();
    let token = ed.token(&claims(&issuer.url));
    open.verify(&token).await.unwrap();
    closed.verify(&token).await.unwrap();

    issuer.set_feed_down(true);
    within(Duration::from_secs(2), || {
        let v = closed.clone();
        let t = token.clone();
        async move { v.verify(&t).await == Err(VerifyError::FeedUnavailable) }
    })
    .await
    .expect("stale feed not detected");
    open.verify(&token).await.unwrap();

    // Recovery.
    issuer.set_feed_down(false);
    within(Duration::from_secs(2), || {
        let v = closed.clone();
        let t = token.clone();
        async move { v.verify(&t).await.is_ok() }
    })
    .await
    .expect("did not recover after the feed came back");
}

#[tokio::test]
async fn revocations_during_an_outage_are_caught_up_from_the_cursor() {
    let (issuer, ed, _) = issuer_with_keys().await;
    let mut config = issuer.config();
    config.poll_interval = Duration::from_millis(50);
    let verifier = Verifier::new(config).await.unwrap();
    let c = claims(&issuer.url);
    issuer.set_feed_down(true);
    issuer.revoke_session(c["sid"].as_str().unwrap());
    tokio::time::sleep(Duration::from_millis(200)).await;
    verifier.verify(&ed.token(&c)).await.unwrap();
    issuer.set_feed_down(false);
    within(Duration::from_secs(2), || {
        let v = verifier.clone();
        let t = ed.token(&c);
        async move { v.verify(&t).await == Err(VerifyError::Revoked) }
    })
    .await
    .expect("missed revocation not caught up");
}

#[tokio::test]
async fn paged_feed_answers_are_read_to_the_end() {
    let (issuer, ed, _) = issuer_with_keys().await;
    issuer.set_page_limit(10);
    let early: Vec<_> = (0..25).map(|_| claims(&issuer.url)).collect();
    for c in &early {
        issuer.revoke_session(c["sid"].as_str().unwrap());
    }
    let verifier = Verifier::new(issuer.config()).await.unwrap();
    // The whole backlog is loaded before the first token is checked.
    for c in &early {
        assert_eq!(
            verifier.verify(&ed.token(c)).await.unwrap_err(),
            VerifyError::Revoked
        );
    }
    let late: Vec<_> = (0..25).map(|_| claims(&issuer.url)).collect();
    for c in &late {
        issuer.revoke_session(c["sid"].as_str().unwrap());
    }
    let last = ed.token(late.last().unwrap());
    within(Duration::from_secs(2), || {
        let v = verifier.clone();
        let t = last.clone();
        async move { v.verify(&t).await == Err(VerifyError::Revoked) }
    })
    .await
    .expect("later pages not read");
    for c in &late {
        assert_eq!(
            verifier.verify(&ed.token(c)).await.unwrap_err(),
            VerifyError::Revoked
        );
    }
    verifier
        .verify(&ed.token(&claims(&issuer.url)))
        .await
        .unwrap();
}
