//! The page of `tl serve` in headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven over WebDriver): open the token URL, scrub to a
//! past instant, open a file and see it as it was, see its diff against now,
//! restore it with the confirmation. A screenshot is kept under target/.

use std::time::Duration;

use serde_json::json;

use crate::serve::{project, project_with_timelines};
use crate::support::serve::Server;
use crate::support::webdriver::Browser;

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn the_page_scrubs_shows_a_past_file_its_diff_and_restores_it_after_confirmation() {
    let d = project();
    let s = Server::start(d.path(), &["--allow-restore"]);
    let cps = s.json("/api/checkpoints");
    let first = cps["checkpoints"][2]["id"].as_str().unwrap().to_string();
    let b = Browser::start();
    b.go(&format!("http://{}/?token={}", s.addr, s.token));
    b.wait_for(
        "the newest checkpoint on the scrubber",
        "return document.getElementById('instant').textContent",
        json!([]),
        WAIT,
    );
    // Scrub to the first checkpoint.
    b.run(
        "const s = document.getElementById('scrubber'); s.value = 0; \
         s.dispatchEvent(new Event('input'));",
        json!([]),
    );
    b.wait_for(
        "the first checkpoint's tree",
        "return document.getElementById('instant').textContent.startsWith(arguments[0]) && \
         document.querySelectorAll('#tree li').length === 1",
        json!([first]),
        WAIT,
    );
    b.click("#tree li[data-path='a.txt']");
    b.wait_for(
        "a.txt as it was",
        "const c = document.getElementById('content'); \
         return c.dataset.mode === 'content' && c.textContent === 'one\\n'",
        json!([]),
        WAIT,
    );
    b.wait_for(
        "the versions of a.txt with their labels",
        "return document.getElementById('versions').textContent.includes('+1 -0 lines')",
        json!([]),
        WAIT,
    );
    b.run(
        "const c = document.getElementById('compare'); c.value = 'now'; \
         c.dispatchEvent(new Event('change'));",
        json!([]),
    );
    b.wait_for(
        "the diff against now",
        "const c = document.getElementById('content'); return c.dataset.mode === 'diff' && \
         c.querySelector('.add') && c.querySelector('.add').textContent === '+two\\n'",
        json!([]),
        WAIT,
    );
    let png = b.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-page.png");
    std::fs::write(&shot, &png).unwrap();
    eprintln!("screenshot: {}", shot.display());
    assert_eq!(
        std::fs::read_to_string(d.path().join("a.txt")).unwrap(),
        "one\ntwo\n"
    );
    b.click("#restore");
    let asked = b.accept_confirm();
    assert!(asked.contains("Restore a.txt"), "{asked}");
    b.wait_for(
        "the restore's result",
        "return document.getElementById('message').textContent.startsWith('restored')",
        json!([]),
        Duration::from_secs(60),
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("a.txt")).unwrap(),
        "one\n"
    );
}

#[test]
fn without_allow_restore_the_page_offers_no_restore() {
    let d = project();
    let s = Server::start(d.path(), &[]);
    let b = Browser::start();
    b.go(&format!("http://{}/?token={}", s.addr, s.token));
    b.wait_for(
        "the tree",
        "return document.querySelectorAll('#tree li').length === 2",
        json!([]),
        WAIT,
    );
    b.click("#tree li[data-path='a.txt']");
    let hidden = b.run(
        "return document.getElementById('restore').hidden && \
         document.getElementById('restore-tree').hidden",
        json!([]),
    );
    assert_eq!(hidden, json!(true));
}

#[test]
fn the_timeline_picker_puts_the_chosen_timelines_line_on_the_scrubber() {
    let d = project_with_timelines();
    let s = Server::start(d.path(), &[]);
    let exp = s.json("/api/checkpoints?timeline=exp");
    let newest = exp["checkpoints"][0]["id"].as_str().unwrap().to_string();
    let b = Browser::start();
    b.go(&format!("http://{}/?token={}", s.addr, s.token));
    b.wait_for(
        "the current timeline picked, its newest state shown",
        "return document.getElementById('timelines').value === 'main' && \
         document.getElementById('instant').textContent.includes(' on main')",
        json!([]),
        WAIT,
    );
    b.run(
        "const t = document.getElementById('timelines'); t.value = 'exp'; \
         t.dispatchEvent(new Event('change'));",
        json!([]),
    );
    b.wait_for(
        "exp's line on the scrubber",
        "return Number(document.getElementById('scrubber').max) === arguments[0] - 1",
        json!([exp["total"]]),
        WAIT,
    );
    b.run(
        "const s = document.getElementById('scrubber'); s.value = s.max; \
         s.dispatchEvent(new Event('input'));",
        json!([]),
    );
    b.wait_for(
        "exp's newest state and its file",
        "return document.getElementById('instant').textContent.startsWith(arguments[0]) && \
         document.querySelector(\"#tree li[data-path='exp.txt']\") !== null",
        json!([newest]),
        WAIT,
    );
}
