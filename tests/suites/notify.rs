//! Notifications: a real local HTTP receiver gets a signed JSON body when a matching job
//! ends; a receiver error is retried and then delivered, every attempt is recorded;
//! redirects are not followed; metadata addresses are refused.

use cairn_tests::webhook::{Received, WebhookReceiver};
use cairn_tests::*;
use hmac::{KeyInit, Mac};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const SECRET: &str = "s3cr3t-for-the-hook";
const ARRIVAL: Duration = Duration::from_secs(60);

fn app_with_secret() -> App {
    App::start_with(AppOptions {
        env: BTreeMap::from([("HOOK_SECRET".to_string(), SECRET.to_string())]),
        ..AppOptions::default()
    })
}

fn expected_signature(timestamp: &str, body: &[u8]) -> String {
    let mut mac = <hmac::Hmac<sha2_mac::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes())
        .expect("hmac key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[track_caller]
fn assert_signed(r: &Received) {
    let timestamp = r
        .headers
        .get("x-cairn-timestamp")
        .expect("timestamp header");
    let signature = r
        .headers
        .get("x-cairn-signature")
        .expect("signature header");
    assert_eq!(
        signature,
        &expected_signature(timestamp, &r.body),
        "signature"
    );
    assert_ne!(
        signature,
        &expected_signature(timestamp, b"{}"),
        "the signature covers the body"
    );
}

fn deliveries(app: &App) -> Vec<Value> {
    let out = app.cairn(&["notify", "deliveries", "--json"]);
    out.expect_code(0, "notify deliveries");
    out.json().as_array().expect("array").clone()
}

fn pg_target(app: &App) -> PgDb {
    let db = Pg::shared().create_db();
    db.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (1);");
    app.add_target("shop", &db.url());
    db
}

#[test]
fn a_backup_end_is_posted_signed_with_its_facts() {
    let receiver = WebhookReceiver::start(vec![]);
    let app = app_with_secret();
    let _db = pg_target(&app);
    app.cairn(&[
        "notify",
        "add",
        "ops",
        "--webhook",
        &receiver.url("/hook"),
        "--on",
        "succeeded",
        "--kind",
        "backup",
        "--target",
        "shop",
        "--secret-env",
        "HOOK_SECRET",
    ])
    .expect_code(0, "notify add");
    let summary = app.backup_wait("shop");
    let job_id = job_id_of(&summary);

    let r = receiver.next(ARRIVAL).expect("a notification arrives");
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/hook"));
    assert_eq!(
        r.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    assert_signed(&r);
    let body: Value = serde_json::from_slice(&r.body).expect("JSON body");
    assert_eq!(body["event"], "job.ended");
    assert_eq!(body["notifier"], "ops");
    assert_eq!(body["job_id"], job_id.as_str());
    assert_eq!(body["kind"], "backup");
    assert_eq!(body["target"], "shop");
    assert_eq!(body["outcome"], "succeeded");
    let backup = &app.backups("shop")[0];
    assert_eq!(body["backup_id"], backup["id"]);
    assert!(body["bytes_db"].as_u64().expect("bytes_db") > 0);
    assert!(body["duration_seconds"].as_f64().expect("duration") >= 0.0);
    assert!(!r.body.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));

    let recorded = deliveries(&app);
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["delivered"], true);
    assert_eq!(recorded[0]["status"], 200);
    assert!(!app.log().contains(SECRET), "the secret is not logged");
}

#[test]
fn a_receiver_error_is_retried_then_delivered_and_each_attempt_recorded() {
    let receiver = WebhookReceiver::start(vec![(500, vec![])]);
    let app = app_with_secret();
    let _db = pg_target(&app);
    app.cairn(&[
        "notify",
        "add",
        "ops",
        "--webhook",
        &receiver.url("/hook"),
        "--secret-env",
        "HOOK_SECRET",
    ])
    .expect_code(0, "notify add");
    app.backup_wait("shop");

    let first = receiver.next(ARRIVAL).expect("first try");
    assert_eq!(first.answered, 500);
    let second = receiver.next(ARRIVAL).expect("the retry");
    assert_eq!(second.answered, 200);
    assert_eq!(first.body, second.body, "the same notification is retried");
    assert_signed(&second);

    let recorded = poll(
        "two recorded attempts",
        ARRIVAL,
        Duration::from_millis(100),
        || {
            let d = deliveries(&app);
            (d.len() == 2).then_some(d)
        },
    );
    // Newest first.
    assert_eq!(recorded[1]["attempt"], 1);
    assert_eq!(recorded[1]["delivered"], false);
    assert_eq!(recorded[1]["status"], 500);
    assert_eq!(recorded[1]["will_retry"], true);
    assert_eq!(recorded[0]["attempt"], 2);
    assert_eq!(recorded[0]["delivered"], true);
}

#[test]
fn only_matching_notifiers_hear_of_a_job_and_redirects_are_not_followed() {
    let redirected_to = WebhookReceiver::start(vec![]);
    let redirecting = WebhookReceiver::start(vec![(
        302,
        vec![("location".to_string(), redirected_to.url("/elsewhere"))],
    )]);
    let on_success = WebhookReceiver::start(vec![]);
    let app = App::start_with(AppOptions {
        up_args: vec!["--max-attempts".into(), "1".into()],
        ..AppOptions::default()
    });
    // Nothing listens there: the backup fails with a retryable error, and with one
    // attempt allowed it ends dead.
    app.add_target(
        "gone",
        &format!("postgres://postgres@127.0.0.1:{}/gone", util::free_port()),
    );
    app.cairn(&[
        "notify",
        "add",
        "dead-hook",
        "--webhook",
        &redirecting.url("/dead"),
        "--on",
        "dead",
    ])
    .expect_code(0, "notify add dead-hook");
    app.cairn(&[
        "notify",
        "add",
        "ok-hook",
        "--webhook",
        &on_success.url("/ok"),
        "--on",
        "succeeded",
    ])
    .expect_code(0, "notify add ok-hook");
    let out = app.cairn_limit(&["backup", "gone", "--wait"], Duration::from_secs(120));
    out.expect_code(1, "backup of a server nobody runs");

    let r = redirecting.next(ARRIVAL).expect("the dead notification");
    let body: Value = serde_json::from_slice(&r.body).expect("JSON body");
    assert_eq!(body["outcome"], "dead");
    assert_eq!(body["target"], "gone");
    assert!(body["failure"]["code"].is_string(), "{body}");
    assert!(
        !r.headers.contains_key("x-cairn-signature"),
        "no secret, no signature"
    );

    let recorded = poll(
        "the redirect recorded",
        ARRIVAL,
        Duration::from_millis(100),
        || {
            deliveries(&app)
                .into_iter()
                .find(|d| d["notifier"] == "dead-hook")
        },
    );
    assert_eq!(recorded["delivered"], false);
    assert_eq!(recorded["status"], 302);
    assert_eq!(recorded["will_retry"], false);
    assert!(recorded["error"]
        .as_str()
        .unwrap_or("")
        .contains("redirect"));
    assert!(
        redirected_to.next(Duration::from_secs(2)).is_none(),
        "the redirect was not followed"
    );
    assert!(
        on_success.next(Duration::from_secs(1)).is_none(),
        "a notifier for successes hears nothing of a failure"
    );
}

#[test]
fn metadata_and_link_local_webhooks_are_refused_with_exit_2() {
    let app = App::start();
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fd00:ec2::254]/",
    ] {
        let out = app.cairn(&["notify", "add", "meta", "--webhook", url]);
        out.expect_code(2, url);
        assert!(
            out.stderr.contains("--allow-private-endpoint"),
            "{}",
            out.stderr
        );
    }
    let list = app.cairn(&["notify", "list", "--json"]);
    list.expect_code(0, "notify list");
    assert_eq!(list.json(), serde_json::json!([]), "nothing was added");
    app.cairn(&[
        "notify",
        "add",
        "meta",
        "--webhook",
        "http://169.254.169.254/",
        "--allow-private-endpoint",
    ])
    .expect_code(0, "allowed explicitly");
}

#[test]
fn a_secret_outside_the_allowed_references_is_refused() {
    let app = App::start();
    let out = app.cairn(&[
        "notify",
        "add",
        "ops",
        "--webhook",
        "http://127.0.0.1:9/hook",
        "--secret-env",
        "CAIRN_SECRET_KEY",
    ]);
    out.expect_code(2, "cairn's own variable as a webhook secret");
    assert!(out.stderr.contains("CAIRN_SECRET_KEY"), "{}", out.stderr);
}

/// A delivery still retrying when cairn is killed is made after it starts again, continuing
/// its attempt count, instead of being dropped.
#[test]
fn a_delivery_retrying_when_cairn_is_killed_is_made_after_the_restart() {
    let receiver = WebhookReceiver::start(vec![(500, vec![]), (500, vec![])]);
    let mut app = app_with_secret();
    let _db = pg_target(&app);
    app.cairn(&[
        "notify",
        "add",
        "ops",
        "--webhook",
        &receiver.url("/hook"),
        "--secret-env",
        "HOOK_SECRET",
    ])
    .expect_code(0, "notify add");
    let job = job_id_of(&app.backup_wait("shop"));
    let first = receiver.next(ARRIVAL).expect("the first try");
    assert_eq!(first.answered, 500);
    poll(
        "the first attempt recorded",
        ARRIVAL,
        Duration::from_millis(50),
        || (!deliveries(&app).is_empty()).then_some(()),
    );
    // Retries wait 1 s, 2 s, …, and the second try is answered 500 too: the delivery is
    // not done when cairn dies.
    app.kill9();
    app.restart();

    let delivered = loop {
        let r = receiver
            .next(ARRIVAL)
            .expect("the delivery resumed after the restart");
        if r.answered == 200 {
            break r;
        }
    };
    assert_eq!(first.body, delivered.body, "the same notification");
    assert_signed(&delivered);
    let body: Value = serde_json::from_slice(&delivered.body).unwrap();
    assert_eq!(body["job_id"], job.as_str(), "{body}");
    let recorded = poll(
        "the delivery recorded as made",
        ARRIVAL,
        Duration::from_millis(100),
        || {
            let d = deliveries(&app);
            d.iter().any(|r| r["delivered"] == true).then_some(d)
        },
    );
    let attempts: Vec<u64> = recorded
        .iter()
        .rev()
        .filter_map(|r| r["attempt"].as_u64())
        .collect();
    assert!(
        attempts.windows(2).all(|w| w[0] <= w[1]) && attempts.last() > Some(&1),
        "attempts continue across the restart, not from 1 again: {attempts:?}"
    );
    assert_eq!(
        recorded.iter().filter(|r| r["delivered"] == true).count(),
        1,
        "delivered once: {recorded:#?}"
    );
}
