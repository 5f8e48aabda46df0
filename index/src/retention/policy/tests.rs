use super::*;

fn parse(text: &str) -> Result<Policy, ConfigError> {
    let table: toml::Table = text.parse().unwrap();
    Policy::from_toml(&table["retention"])
}

fn secs(s: i64) -> Option<Span> {
    Span::from_secs(s)
}

#[test]
fn an_empty_retention_table_gives_the_defaults() {
    let p = parse("[retention]\n").unwrap();
    assert_eq!(p, Policy::default());
    assert_eq!(p.keep_all, secs(3_600));
    assert_eq!(p.keep_secondly, None);
    assert_eq!(p.keep_minutely, secs(86_400));
    assert_eq!(p.keep_hourly, secs(7 * 86_400));
    assert_eq!(p.keep_daily, secs(90 * 86_400));
    assert_eq!(p.max_store_bytes, None);
}

#[test]
fn every_key_takes_a_duration_of_any_unit() {
    let p = parse(
        "[retention]\nkeep-all = \"30s\"\nkeep-secondly = \"2m\"\nkeep-minutely = \"1h30m\"\n\
         keep-hourly = \"2d\"\nkeep-daily = \"1w\"\n",
    )
    .unwrap();
    assert_eq!(p.keep_all, secs(30));
    assert_eq!(p.keep_secondly, secs(120));
    assert_eq!(p.keep_minutely, secs(5_400));
    assert_eq!(p.keep_hourly, secs(2 * 86_400));
    assert_eq!(p.keep_daily, secs(7 * 86_400));
}

#[test]
fn zero_turns_a_rule_off() {
    let p = parse("[retention]\nkeep-all = \"0s\"\nkeep-daily = \"0d\"\n").unwrap();
    assert_eq!(p.keep_all, None);
    assert_eq!(p.keep_daily, None);
    assert_eq!(p.keep_hourly, Policy::default().keep_hourly);
}

#[test]
fn an_unknown_key_is_refused_with_the_known_ones() {
    let err = parse("[retention]\nkeep-weekly = \"4w\"\n").unwrap_err();
    assert_eq!(
        err,
        ConfigError::UnknownKey {
            key: "keep-weekly".into()
        }
    );
    let msg = err.to_string();
    assert!(msg.contains("`keep-weekly`"), "{msg}");
    for key in KNOWN_KEYS {
        assert!(msg.contains(key), "{msg} lacks {key}");
    }
}

#[test]
fn snake_case_keys_are_unknown() {
    let err = parse("[retention]\nkeep_all = \"1h\"\n").unwrap_err();
    assert!(matches!(err, ConfigError::UnknownKey { .. }), "{err}");
}

#[test]
fn a_duration_that_is_not_a_string_is_refused() {
    let err = parse("[retention]\nkeep-all = 3600\n").unwrap_err();
    assert!(
        matches!(&err, ConfigError::NotAString { key, found: "integer", .. } if key == "keep-all"),
        "{err:?}"
    );
    assert!(err.to_string().contains("must be a string"), "{err}");
}

#[test]
fn a_bad_duration_names_its_key_and_the_forms() {
    let err = parse("[retention]\nkeep-hourly = \"a week\"\n").unwrap_err();
    assert!(
        matches!(&err, ConfigError::Duration { key, source: DurationError::Unrecognized { .. } } if key == "keep-hourly"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("`keep-hourly`") && msg.contains("1h30m"),
        "{msg}"
    );
    let months = parse("[retention]\nkeep-daily = \"3mo\"\n").unwrap_err();
    assert!(
        matches!(
            months,
            ConfigError::Duration {
                source: DurationError::CalendarUnit { .. },
                ..
            }
        ),
        "{months:?}"
    );
}

#[test]
fn retention_must_be_a_table() {
    let table: toml::Table = "retention = 3".parse().unwrap();
    assert_eq!(
        Policy::from_toml(&table["retention"]),
        Err(ConfigError::NotATable)
    );
}

#[test]
fn max_store_bytes_takes_a_size_an_integer_or_nothing() {
    let cap = |text: &str| parse(&format!("[retention]\nmax-store-bytes = {text}\n"));
    assert_eq!(cap("\"\"").unwrap().max_store_bytes, None);
    assert_eq!(
        cap("\"10 GiB\"").unwrap().max_store_bytes,
        ByteSize::new(10 << 30)
    );
    assert_eq!(
        cap("\"500 MB\"").unwrap().max_store_bytes,
        ByteSize::new(500_000_000)
    );
    assert_eq!(
        cap("1048576").unwrap().max_store_bytes,
        ByteSize::new(1 << 20)
    );
    let ambiguous = cap("\"10G\"").unwrap_err();
    assert!(
        matches!(
            ambiguous,
            ConfigError::Size {
                source: SizeError::AmbiguousUnit { .. }
            }
        ),
        "{ambiguous:?}"
    );
    assert!(ambiguous
        .to_string()
        .starts_with("`max-store-bytes` in [retention]: "));
    assert!(matches!(cap("-5"), Err(ConfigError::Size { .. })));
    assert!(matches!(
        cap("0"),
        Err(ConfigError::Size {
            source: SizeError::Zero { .. }
        })
    ));
    assert!(matches!(cap("1.5"), Err(ConfigError::NotAString { .. })));
}

#[test]
fn bucket_rules_lists_the_rules_that_are_on_finest_first() {
    let rules = Policy::default().bucket_rules();
    let units: Vec<Unit> = rules.iter().map(|r| r.unit).collect();
    assert_eq!(units, [Unit::Minute, Unit::Hour, Unit::Day]);
    assert_eq!(rules[0].span, Span::from_secs(86_400).unwrap());
}
