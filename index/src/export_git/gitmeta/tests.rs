use super::*;

fn settings(text: &str) -> Vec<(String, Option<String>)> {
    parse_config(text.as_bytes())
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                String::from_utf8(s.var).unwrap(),
                s.value.map(|v| String::from_utf8(v).unwrap()),
            )
        })
        .collect()
}

#[test]
fn the_config_parser_reads_what_git_reads() {
    let got = settings(
        "\u{feff}# comment\n[Submodule \"Lib \\\"x\\\"\"]\r\n\tPath = lib ; trailing\n\
         url = \"a b\"\\\n  c\n[core]\nbare\n[sub.Sec]\nk=v # c\n",
    );
    assert_eq!(
        got,
        vec![
            ("submodule.Lib \"x\".path".into(), Some("lib".into())),
            ("submodule.Lib \"x\".url".into(), Some("a b  c".into())),
            ("core.bare".into(), None),
            ("sub.sec.k".into(), Some("v".into())),
        ]
    );
    for bad in [
        "[submodule \"x]\n",
        "[sub\n",
        "x = \"open\n",
        "x = a\\q\n",
        "1x = y\n",
        "[]\n",
    ] {
        assert!(parse_config(bad.as_bytes()).is_err(), "{bad:?}");
    }
}

#[test]
fn submodule_names_with_dotdot_or_empty_are_refused() {
    for bad in ["..", "../x", "a/../b", "a\\..", "..\\modules\\evil", ""] {
        assert!(!submodule_name_ok(bad.as_bytes()), "{bad}");
    }
    for ok in ["lib", "..x", "a/..b", "x/y", "...", "a..b"] {
        assert!(submodule_name_ok(ok.as_bytes()), "{ok}");
    }
}

#[test]
fn submodule_urls_git_refuses_are_refused() {
    for bad in [
        "-u./payload",
        "--upload-pack=touch /tmp/x",
        "./%0ahost=example.com",
        "../\n",
        "git://example.com/%0A",
        "../:example.com/x",
        "..//example.com/x",
        "./../../:x",
        "http::example.com/repo",
        "https://",
        "https:///repo",
        "https://exa mple.com/r",
        "https://example.com:99999/r",
        "https://example.com:0/r",
        "https://example.com:8x/r",
        "https://example.com/%zz",
        "https://example.com/%0a",
        "http::https://example.com/../..",
        "-",
    ] {
        assert!(!submodule_url_ok(bad.as_bytes()), "{bad}");
    }
    for ok in [
        "https://example.com/lib.git",
        "https://user:pw@example.com:8443/a/b.git?x=1#f",
        "http://[::1]:80/r",
        "git://example.com/r.git",
        "../lib.git",
        "./lib",
        "ssh://git@example.com/r.git",
        "git@example.com:r.git",
        "/srv/git/r.git",
    ] {
        assert!(submodule_url_ok(ok.as_bytes()), "{ok}");
    }
}

#[test]
fn gitmodules_checks_name_url_path_and_update() {
    let ok = "[submodule \"lib\"]\n\tpath = lib\n\turl = https://example.com/lib.git\n\
              \tupdate = rebase\n";
    assert_eq!(check_gitmodules(ok.as_bytes()), Ok(()));
    for (bad, word) in [
        (
            "[submodule \"../../modules/x\"]\n\tpath = x\n",
            "gitmodulesName",
        ),
        (
            "[submodule.x]\n\turl = --upload-pack=evil\n",
            "gitmodulesUrl",
        ),
        ("[SUBMODULE \"x\"]\n\tURL = \"-x\"\n", "gitmodulesUrl"),
        ("[submodule \"x\"]\n\tpath = -p\n", "gitmodulesPath"),
        (
            "[submodule \"x\"]\n\tupdate = !rm -rf /\n",
            "gitmodulesUpdate",
        ),
        ("[submodule \"x\"\n", "not valid Git config"),
        ("[submodule \"x\"]\n\turl = a\0b\n", "NUL"),
    ] {
        let err = check_gitmodules(bad.as_bytes()).unwrap_err();
        assert!(err.contains(word), "{bad:?}: {err}");
    }
    // Git checks only `submodule.<name>.*`.
    assert_eq!(
        check_gitmodules(b"[core]\n\turl = -x\n[submodule]\n\turl = -x\n"),
        Ok(())
    );
}

#[test]
fn gitattributes_with_overlong_lines_are_refused() {
    assert_eq!(check_gitattributes(b"*.bin binary\n"), Ok(()));
    let mut long = vec![b'a'; ATTR_MAX_LINE_LENGTH];
    assert!(check_gitattributes(&long).is_err());
    long.pop();
    assert_eq!(check_gitattributes(&long), Ok(()));
}

#[test]
fn meta_files_in_every_spelling() {
    for (n, kind) in [
        (".gitmodules", MetaFile::Modules),
        (".GITMODULES", MetaFile::Modules),
        (".gitmodules ..", MetaFile::Modules),
        (".gitmodules::$DATA", MetaFile::Modules),
        ("GITMOD~1", MetaFile::Modules),
        ("gi7eba~2", MetaFile::Modules),
        (".gitattributes", MetaFile::Attributes),
        (".gitignore", MetaFile::Ignore),
        (".git\u{200c}ignore", MetaFile::Ignore),
    ] {
        assert_eq!(meta_file(n.as_bytes()), Some(kind), "{n}");
    }
    for n in ["gitmodules", ".gitmodules.bak", "gitmod~0", "x.gitignore"] {
        assert_eq!(meta_file(n.as_bytes()), None, "{n}");
    }
    assert_eq!(meta_files_of(b"d/a\\.gitmodules"), vec![MetaFile::Modules]);
    assert_eq!(meta_files_of(b".gitmodules/x"), vec![]);
}
