//! Affected-range evaluation: OSV's algorithm for `ECOSYSTEM` ranges
//! (events ordered by the ecosystem's version scheme, `introduced: "0"`
//! first, `limit` events bounding the range), listed versions, the fix for
//! an installed version, and which of an advisory's entries concern a
//! package on a release (see "OSV" in the [`crate::advisory`]
//! documentation).

use super::ecosystems::ecosystem_matches;
use super::record::{Advisory, Affected, Event, Range, RangeType};
use crate::version::VersionScheme;
use std::cmp::Ordering;

/// Orders events by version, `introduced: "0"` first. At equal versions an
/// `introduced` event comes first, so that each `introduced`/`fixed` pair is
/// a half-open interval (empty if both are equal) and `last_affected`
/// includes its version, whatever order the record lists them in.
fn event_order(scheme: VersionScheme, a: &Event, b: &Event) -> Ordering {
    let zero = |e: &Event| matches!(e, Event::Introduced(v) if v == "0");
    let later = |e: &Event| !matches!(e, Event::Introduced(_));
    match (zero(a), zero(b)) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => scheme
            .compare(a.version(), b.version())
            .then_with(|| later(a).cmp(&later(b))),
    }
}

impl Range {
    /// Whether `version` is below one of the range's `limit` events (or the
    /// range has none).
    fn before_limits(&self, scheme: VersionScheme, version: &str) -> bool {
        let mut limits = self
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Limit(v) => Some(v.as_str()),
                _ => None,
            })
            .peekable();
        limits.peek().is_none()
            || limits.any(|limit| limit == "*" || scheme.compare(version, limit) == Ordering::Less)
    }

    /// OSV's `IncludedInRanges` for one range, with the scheme's ordering.
    fn includes(&self, scheme: VersionScheme, version: &str) -> bool {
        if self.kind != RangeType::Ecosystem || !self.before_limits(scheme, version) {
            return false;
        }
        let mut events: Vec<&Event> = self
            .events
            .iter()
            .filter(|e| !matches!(e, Event::Limit(_)))
            .collect();
        events.sort_by(|a, b| event_order(scheme, a, b));
        let mut vulnerable = false;
        for event in events {
            let order = || scheme.compare(version, event.version());
            match event {
                Event::Introduced(v) if v == "0" || order() != Ordering::Less => vulnerable = true,
                Event::Fixed(_) if order() != Ordering::Less => vulnerable = false,
                Event::LastAffected(_) if order() == Ordering::Greater => vulnerable = false,
                _ => {}
            }
        }
        vulnerable
    }
}

impl Affected {
    /// Whether `version` of this package is affected: it lies in one of the
    /// `ECOSYSTEM` ranges (ordered by `scheme`) or equals (by `scheme`) a
    /// listed version. `SEMVER` and `GIT` ranges are not evaluated; a blank
    /// version is never affected.
    pub fn affects(&self, scheme: VersionScheme, version: &str) -> bool {
        if version.trim().is_empty() {
            return false;
        }
        self.versions
            .iter()
            .any(|v| scheme.compare(version, v) == Ordering::Equal)
            || self.ranges.iter().any(|r| r.includes(scheme, version))
    }

    /// The `fixed` versions of the `ECOSYSTEM` and `SEMVER` ranges, in the
    /// order given, without repeats. (`GIT` ranges fix at commits, not
    /// versions.)
    pub fn fixed_versions(&self) -> Vec<String> {
        let mut fixed: Vec<String> = Vec::new();
        for range in self.ranges.iter().filter(|r| r.kind != RangeType::Git) {
            for event in &range.events {
                if let Event::Fixed(v) = event
                    && !fixed.contains(v)
                {
                    fixed.push(v.clone());
                }
            }
        }
        fixed
    }

    /// The version that fixes `version`: the lowest `fixed` event above it
    /// in an `ECOSYSTEM` range that `version` lies in. `None` when it is not
    /// affected through a range or no fix is known.
    pub fn fix_for(&self, scheme: VersionScheme, version: &str) -> Option<&str> {
        if version.trim().is_empty() {
            return None;
        }
        self.ranges
            .iter()
            .filter(|r| r.includes(scheme, version))
            .flat_map(|r| r.events.iter())
            .filter_map(|e| match e {
                Event::Fixed(v) if scheme.compare(version, v) == Ordering::Less => Some(v.as_str()),
                _ => None,
            })
            .min_by(|a, b| scheme.compare(a, b))
    }
}

impl Advisory {
    /// The affected entries for package (or source package) `name` in any
    /// of `ecosystems` (see [`ecosystem_matches`]).
    pub fn matching<'a>(
        &'a self,
        ecosystems: &[String],
        name: &str,
    ) -> impl Iterator<Item = &'a Affected> {
        self.affected.iter().filter(move |a| {
            a.package.name == name
                && ecosystems
                    .iter()
                    .any(|e| ecosystem_matches(&a.package.ecosystem, e))
        })
    }

    /// Whether this advisory affects `version` of the package (or source
    /// package) `package_or_source` on a release whose ecosystems are
    /// `ecosystems`. Withdrawn advisories affect nothing. Debian, Ubuntu,
    /// AlmaLinux and Rocky name source packages; check both names.
    pub fn affects_package(
        &self,
        ecosystems: &[String],
        package_or_source: &str,
        scheme: VersionScheme,
        version: &str,
    ) -> bool {
        !self.is_withdrawn()
            && self
                .matching(ecosystems, package_or_source)
                .any(|a| a.affects(scheme, version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::Package;
    use crate::advisory::fixtures::strings;
    use proptest::prelude::*;

    fn affected(ranges: Vec<Range>, versions: &[&str]) -> Affected {
        Affected {
            package: Package {
                ecosystem: "Debian:12".into(),
                name: "pkg".into(),
                purl: None,
            },
            severity: vec![],
            ranges,
            versions: strings(versions),
            ecosystem_specific: None,
            database_specific: None,
        }
    }

    fn range(kind: RangeType, events: &[(&str, &str)]) -> Range {
        let events = events
            .iter()
            .map(|(key, v)| {
                let v = (*v).to_owned();
                match *key {
                    "introduced" => Event::Introduced(v),
                    "fixed" => Event::Fixed(v),
                    "last_affected" => Event::LastAffected(v),
                    "limit" => Event::Limit(v),
                    other => panic!("{other}"),
                }
            })
            .collect();
        Range {
            kind,
            repo: None,
            events,
        }
    }

    fn check(a: &Affected, scheme: VersionScheme, cases: &[(&str, bool)]) {
        for (version, expected) in cases {
            assert_eq!(a.affects(scheme, version), *expected, "{version} in {a:?}");
        }
    }

    use RangeType::{Ecosystem, Git, Semver};
    use VersionScheme::{Deb, Rpm};

    #[test]
    fn affects_follows_the_osv_algorithm() {
        // Introduced later than the beginning.
        let a = affected(
            vec![range(
                Ecosystem,
                &[("introduced", "2.0-1"), ("fixed", "2.0-5")],
            )],
            &[],
        );
        check(
            &a,
            Deb,
            &[
                ("1.9-1", false),
                ("2.0-1", true),
                ("2.0-4", true),
                ("2.0-5", false),
            ],
        );
        check(
            &a,
            Rpm,
            &[
                ("1.9-1", false),
                ("2.0-1", true),
                ("2.0-4", true),
                ("2.0-5", false),
            ],
        );

        // last_affected is inclusive.
        let a = affected(
            vec![range(
                Ecosystem,
                &[("introduced", "0"), ("last_affected", "1.2-3")],
            )],
            &[],
        );
        check(
            &a,
            Deb,
            &[
                ("1.2-2", true),
                ("1.2-3", true),
                ("1.2-3+b1", false),
                ("1.3-1", false),
            ],
        );

        // Equal versions: introduced comes first, whatever the listed order.
        let a = affected(
            vec![range(
                Ecosystem,
                &[("last_affected", "1.0"), ("introduced", "1.0")],
            )],
            &[],
        );
        check(&a, Deb, &[("0.9", false), ("1.0", true), ("1.0+b1", false)]);
        let a = affected(
            vec![range(Ecosystem, &[("fixed", "1.0"), ("introduced", "1.0")])],
            &[],
        );
        check(&a, Deb, &[("0.9", false), ("1.0", false), ("2.0", false)]);

        // Several introduced/fixed pairs in one range, given out of order.
        let a = affected(
            vec![range(
                Ecosystem,
                &[
                    ("fixed", "2.5"),
                    ("introduced", "2.0"),
                    ("fixed", "1.0"),
                    ("introduced", "0"),
                ],
            )],
            &[],
        );
        let cases = [
            ("0.5", true),
            ("1.0~rc1", true),
            ("1.0", false),
            ("1.5", false),
            ("2.0", true),
            ("2.4", true),
            ("2.5", false),
            ("3", false),
        ];
        check(&a, Deb, &cases);
        assert_eq!(a.fix_for(Deb, "0.5"), Some("1.0"));
        assert_eq!(a.fix_for(Deb, "2.1"), Some("2.5"));
        assert_eq!(a.fix_for(Deb, "1.5"), None);
        assert_eq!(a.fix_for(Deb, "3"), None);
        assert_eq!(a.fixed_versions(), strings(&["2.5", "1.0"]));

        // The same as two ranges.
        let a = affected(
            vec![
                range(Ecosystem, &[("introduced", "0"), ("fixed", "1.0")]),
                range(Ecosystem, &[("introduced", "2.0"), ("fixed", "2.5")]),
            ],
            &[],
        );
        check(&a, Deb, &cases);
        assert_eq!(a.fixed_versions(), strings(&["1.0", "2.5"]));

        // Unfixed.
        let a = affected(vec![range(Ecosystem, &[("introduced", "0")])], &[]);
        check(
            &a,
            Deb,
            &[
                ("0", true),
                ("~~", true),
                ("99:1", true),
                ("", false),
                ("  ", false),
            ],
        );
        assert_eq!(a.fix_for(Deb, "1.0"), None);
        assert!(a.fixed_versions().is_empty());

        // Limits.
        let a = affected(
            vec![range(Ecosystem, &[("introduced", "0"), ("limit", "2.0")])],
            &[],
        );
        check(
            &a,
            Deb,
            &[
                ("1.0", true),
                ("2.0~beta", true),
                ("2.0", false),
                ("3.0", false),
            ],
        );
        let a = affected(
            vec![range(Ecosystem, &[("introduced", "1.0"), ("limit", "*")])],
            &[],
        );
        check(&a, Deb, &[("0.9", false), ("1.0", true), ("999", true)]);
    }

    #[test]
    fn listed_versions_count_by_the_schemes_equality() {
        let a = affected(vec![], &["1.0-1", "1:2.0-3"]);
        check(
            &a,
            Deb,
            &[
                ("1.0-1", true),
                ("0:1.0-1", true),
                ("1.0-2", false),
                ("1:2.0-3", true),
                ("2.0-3", false),
            ],
        );
        let a = affected(vec![], &["3.0.7-27.el9"]);
        check(
            &a,
            Rpm,
            &[
                ("3.0.7-27.el9", true),
                ("0:3.0.7-27.el9", true),
                ("1:3.0.7-27.el9", false),
            ],
        );
        // Versions add to ranges.
        let a = affected(
            vec![range(Ecosystem, &[("introduced", "2.0"), ("fixed", "3.0")])],
            &["1.0"],
        );
        check(
            &a,
            Deb,
            &[("1.0", true), ("1.5", false), ("2.5", true), ("3.0", false)],
        );
    }

    #[test]
    fn only_ecosystem_ranges_are_evaluated() {
        let git = range(
            Git,
            &[
                ("introduced", "0"),
                ("fixed", "9f8a3c2b1d0e4f5a6b7c8d9e0f1a2b3c4d5e6f70"),
            ],
        );
        let a = affected(vec![git], &[]);
        check(&a, Deb, &[("1.0", false)]);
        assert!(a.fixed_versions().is_empty(), "commits are not versions");
        let a = affected(
            vec![range(Semver, &[("introduced", "0"), ("fixed", "1.2.3")])],
            &[],
        );
        check(&a, Deb, &[("1.0.0", false)]);
        assert_eq!(a.fixed_versions(), strings(&["1.2.3"]));
    }

    #[test]
    fn tilde_and_epoch_orderings_decide() {
        let a = affected(
            vec![range(
                Ecosystem,
                &[("introduced", "0"), ("fixed", "1:2.0~rc1-1")],
            )],
            &[],
        );
        check(
            &a,
            Deb,
            &[
                ("2.0~beta-1", true),
                ("1:2.0~beta-1", true),
                ("1:2.0~rc1-1", false),
                ("1:2.0-1", false),
            ],
        );
        let a = affected(
            vec![range(
                Ecosystem,
                &[("introduced", "0"), ("fixed", "2:9.0.2081-1.el9")],
            )],
            &[],
        );
        check(
            &a,
            Rpm,
            &[
                ("9.1.0-1.el9", true),
                ("2:9.0.2081-1.el9", false),
                ("2:9.0.2081-1.el9~1", true),
            ],
        );
    }

    fn simple_version() -> impl Strategy<Value = String> {
        (
            0u8..4,
            0u8..4,
            prop::sample::select(vec!["", "~rc1", "+b1", "~~"]),
            prop::option::of(0u8..3),
        )
            .prop_map(|(major, minor, suffix, revision)| match revision {
                Some(r) => format!("{major}.{minor}{suffix}-{r}"),
                None => format!("{major}.{minor}{suffix}"),
            })
    }

    proptest! {
        #[test]
        fn one_range_is_a_half_open_interval(
            a in simple_version(),
            b in simple_version(),
            v in simple_version(),
            rpm in any::<bool>(),
        ) {
            let scheme = if rpm { Rpm } else { Deb };
            let (low, high) = if scheme.compare(&a, &b) == Ordering::Greater { (b, a) } else { (a, b) };
            let expected = scheme.compare(&v, &low) != Ordering::Less
                && scheme.compare(&v, &high) == Ordering::Less;
            // Events in either order give the same answer.
            for events in [
                [("introduced", low.as_str()), ("fixed", high.as_str())],
                [("fixed", high.as_str()), ("introduced", low.as_str())],
            ] {
                let aff = affected(vec![range(Ecosystem, &events)], &[]);
                prop_assert_eq!(aff.affects(scheme, &v), expected);
                prop_assert_eq!(aff.fix_for(scheme, &v).is_some(), expected);
            }
        }
    }
}
