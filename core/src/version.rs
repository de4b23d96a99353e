//! Version ordering for the package formats Patchport knows: Debian's
//! (dpkg) and RPM's.
//!
//! [`compare_deb`] and [`compare_rpm`] order two version strings the way
//! dpkg and rpm do; [`VersionScheme`] picks one of them for a
//! [`PackageFormat`]. Both are total orders on all strings, so they can be
//! used with `sort_by` and `max_by`, and neither panics on any input.
//!
//! # Debian: `[epoch:]upstream[-revision]`
//!
//! As dpkg's `dpkg_version_compare` and `verrevcmp` (lib/dpkg/version.c)
//! and deb-version(7):
//!
//! - The epoch is the run of digits before the first `:`; it defaults to 0
//!   and is compared as a number (of any size).
//! - The revision is what follows the **last** `-`, so the upstream version
//!   may contain hyphens (and colons). A missing revision is the empty
//!   string, which compares equal to `0`: `1.0` = `1.0-0` = `0:1.0`.
//! - Upstream version and revision are compared the same way: alternately a
//!   run of non-digits, character by character, then a run of digits as a
//!   number (leading zeros ignored; a missing run is 0). In the non-digit
//!   runs `~` sorts before everything, even the end of the run, then the end
//!   of the run, then letters, then everything else by ASCII code:
//!   `1.0~~` < `1.0~~a` < `1.0~` < `1.0` < `1.0a` < `1.0+` < `1.0.`.
//! - Leading and trailing spaces and tabs are ignored, as dpkg does.
//! - The empty string is no version at all: it sorts before every version,
//!   as in `dpkg --compare-versions`.
//!
//! Input that dpkg rejects is still ordered, deterministically:
//! - An empty epoch (`:1.0`) counts as 0; anything before the first `:` that
//!   is not all digits (including dpkg's signed `+1:`) is no epoch, and the
//!   whole string is the upstream version.
//! - Blanks only are the empty string, no version. A trailing `-` (empty
//!   revision), an empty version after an epoch (`1:`) and characters that
//!   dpkg does not allow are compared by the rules above.
//! - Bytes outside ASCII rank after letters and before ASCII punctuation, as
//!   dpkg ranks them on platforms with a signed `char` (amd64).
//!
//! # RPM: `[epoch:]version[-release]`
//!
//! As rpm's `rpmverCmp` and `parseEVR` (rpmio/rpmver.c) with `rpmvercmp`
//! (rpmio/rpmvercmp.c), and rpm-version(7):
//!
//! - The epoch is the run of digits before a `:` that directly follows it
//!   (an empty one is 0); it defaults to 0 and is compared as a number.
//!   Otherwise the `:` belongs to the version, where it only separates.
//! - The release is what follows the **last** `-`. A missing release sorts
//!   before any release, even an empty one (`1.0` < `1.0-` < `1.0-1`), as
//!   `rpmverCmp` and `rpm --eval '%{lua: print(rpm.vercmp(A, B))}'` do.
//!   (rpm's dependency matching, `rpmverOverlap`, instead ignores the
//!   release when one side lacks it; that is a match rule, not an order.)
//! - Version and release are compared with `rpmvercmp`: runs of ASCII
//!   digits and of ASCII letters are segments, everything else only
//!   separates them (`2.0` = `2_0`, and non-ASCII characters are
//!   separators). Segments compare pairwise: numbers numerically (leading
//!   zeros ignored), letters by ASCII code, a number beats letters. `~` sorts
//!   before anything, even the end (`1.0~rc1` < `1.0`); `^` sorts after the
//!   end but before any further segment (`1.0` < `1.0^git1` < `1.0.1`).
//!
//! rpm refuses the empty string; here, as for Debian, it is no version at
//! all and sorts before every version.
//!
//! # Crates
//!
//! - RPM: the segment comparison comes from the `rpm-version` crate (MIT, no
//!   dependencies, pure Rust, split out of rpm-rs by its maintainer). Its
//!   own EVR parsing differs from rpm's on odd input (it splits the release
//!   at the first `-`, takes anything before a `:` as the epoch, and treats a
//!   missing release as an empty one), so this module splits EVR itself and
//!   hands the crate one component at a time.
//! - Debian: `debversion` (Apache-2.0) would pull in chrono, lazy-regex
//!   (regex, and a proc macro at build time) and num-bigint, far too much for
//!   this crate, which also ships in the browser's wasm; `deb-version7` is
//!   GPL-3.0; `deb-version` is unmaintained (2017, regex 0.2). So dpkg's
//!   `verrevcmp` is ported here; it is a few dozen lines.

use crate::protocol::PackageFormat;
use std::cmp::Ordering;

/// A way of ordering version strings: one package manager's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionScheme {
    /// dpkg's: see [`compare_deb`].
    Deb,
    /// rpm's: see [`compare_rpm`].
    Rpm,
}

impl VersionScheme {
    /// Orders two version strings by this scheme's rules.
    pub fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            VersionScheme::Deb => compare_deb(a, b),
            VersionScheme::Rpm => compare_rpm(a, b),
        }
    }
}

/// The scheme that orders a package format's versions.
pub fn scheme_for_format(format: PackageFormat) -> VersionScheme {
    match format {
        PackageFormat::Deb => VersionScheme::Deb,
        PackageFormat::Rpm => VersionScheme::Rpm,
    }
}

/// Orders two Debian versions (`[epoch:]upstream[-revision]`) as dpkg does;
/// see the [module documentation](crate::version) for the rules and for odd input.
pub fn compare_deb(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_matches([' ', '\t']), b.trim_matches([' ', '\t']));
    if a.is_empty() || b.is_empty() {
        return no_version_first(a, b);
    }
    let (a, b) = (split_evr(a), split_evr(b));
    compare_numbers(a.epoch.as_bytes(), b.epoch.as_bytes())
        .then_with(|| verrevcmp(a.version, b.version))
        .then_with(|| verrevcmp(a.release.unwrap_or(""), b.release.unwrap_or("")))
}

/// Orders two RPM versions (`[epoch:]version[-release]`) as rpm does; see
/// the [module documentation](crate::version) for the rules and for odd input.
pub fn compare_rpm(a: &str, b: &str) -> Ordering {
    if a.is_empty() || b.is_empty() {
        return no_version_first(a, b);
    }
    let (a, b) = (split_evr(a), split_evr(b));
    compare_numbers(a.epoch.as_bytes(), b.epoch.as_bytes())
        .then_with(|| rpmvercmp(a.version, b.version))
        .then_with(|| match (a.release, b.release) {
            (Some(a), Some(b)) => rpmvercmp(a, b),
            (a, b) => a.is_some().cmp(&b.is_some()),
        })
}

/// A version string cut into its parts. The epoch holds only ASCII digits
/// (empty for 0).
struct Parts<'a> {
    epoch: &'a str,
    version: &'a str,
    release: Option<&'a str>,
}

/// Splits `[epoch:]version[-release]`: the epoch is a run of digits directly
/// followed by `:`, the release follows the last `-`. This is rpm's
/// `parseEVR`, and dpkg's `parseversion` on every string dpkg accepts.
fn split_evr(s: &str) -> Parts<'_> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (epoch, rest) = match s.get(digits..).and_then(|r| r.strip_prefix(':')) {
        Some(rest) => (s.get(..digits).unwrap_or(""), rest),
        None => ("", s),
    };
    match rest.rsplit_once('-') {
        Some((version, release)) => Parts {
            epoch,
            version,
            release: Some(release),
        },
        None => Parts {
            epoch,
            version: rest,
            release: None,
        },
    }
}

/// Orders when at least one side is empty: no version sorts first.
fn no_version_first(a: &str, b: &str) -> Ordering {
    b.is_empty().cmp(&a.is_empty())
}

/// Compares two runs of ASCII digits as numbers of any size; empty is 0.
fn compare_numbers(a: &[u8], b: &[u8]) -> Ordering {
    let skip_zeros = |s: &[u8]| s.iter().take_while(|&&c| c == b'0').count();
    let (a, b) = (&a[skip_zeros(a)..], &b[skip_zeros(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// rpm's `rpmvercmp` on one component (version or release).
fn rpmvercmp(a: &str, b: &str) -> Ordering {
    // The crate compares whole EVRs only; with epoch and release the same on
    // both sides, that is `rpmvercmp` of the versions.
    rpm_version::Evr::new("0", a, "").cmp(&rpm_version::Evr::new("0", b, ""))
}

/// dpkg's `verrevcmp` on one component (upstream version or revision).
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() || !b.is_empty() {
        // The runs of non-digits, character by character.
        loop {
            let (x, y) = (non_digit(a), non_digit(b));
            if x.is_none() && y.is_none() {
                break;
            }
            let (x, y) = (deb_rank(x), deb_rank(y));
            if x != y {
                return x.cmp(&y);
            }
            // Equal ranks of non-digits: the same byte on both sides.
            a = a.get(1..).unwrap_or_default();
            b = b.get(1..).unwrap_or_default();
        }
        // The runs of digits, as numbers.
        let (x, rest_a) = a.split_at(a.iter().take_while(|c| c.is_ascii_digit()).count());
        let (y, rest_b) = b.split_at(b.iter().take_while(|c| c.is_ascii_digit()).count());
        let order = compare_numbers(x, y);
        if order != Ordering::Equal {
            return order;
        }
        (a, b) = (rest_a, rest_b);
    }
    Ordering::Equal
}

/// The first byte of `s` unless it is a digit (or there is none).
fn non_digit(s: &[u8]) -> Option<u8> {
    s.first().copied().filter(|c| !c.is_ascii_digit())
}

/// dpkg's `order()`: where a character sorts within a run of non-digits.
/// `None` is the end of the run (a digit or the end of the string).
fn deb_rank(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        // dpkg adds 256 to the C `char`, which is negative for these bytes
        // where `char` is signed (amd64): they land at their own value,
        // after letters and before ASCII punctuation.
        Some(c) if !c.is_ascii() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};
    use proptest::prelude::*;

    /// Debian cases: (a, b, how a compares to b). Every row was checked with
    /// `dpkg --compare-versions` (dpkg 1.21.22), both ways round.
    const DEB_CASES: &[(&str, &str, Ordering)] = &[
        // dpkg lib/dpkg/t/t-version.c, test_version_compare (its
        // DPKG_VERSION_OBJECT(epoch, version, revision) written out).
        ("0:0-0", "0:0-0", Equal),
        ("0:0-00", "0:00-0", Equal),
        ("1:2-3", "1:2-3", Equal),
        ("0:0-0", "1:0-0", Less),
        ("0:a-0", "0:b-0", Less),
        ("0:0-a", "0:0-b", Less),
        ("1:0", "2:0", Less),
        ("0:1-1", "0:2-1", Less),
        ("0:1-1", "0:1-2", Less),
        // t-version.c, test_version_relate.
        ("0:1-1", "0:1-1", Equal),
        ("0:2-1", "0:1-1", Greater),
        // t-version.c, test_version_parse: what parses to the same version.
        ("0", "0:0", Equal),
        ("0:0-0-0", "0:0-0-0", Equal),
        ("0:0:0-0", "0:0:0-0", Equal),
        ("0:0.0-0.0", "0.0-0.0", Equal),
        ("1:0.0-0.0", "0.0-0.0", Greater),
        // Debian Policy 5.6.12: "~~, ~~a, ~, the empty part, a".
        ("1.0~~", "1.0~~a", Less),
        ("1.0~~a", "1.0~", Less),
        ("1.0~", "1.0", Less),
        ("1.0", "1.0a", Less),
        // deb-version(7) and Policy 5.6.12: the examples in the text.
        ("1.0~rc1", "1.0", Less),
        ("1.0~rc1", "1.0~rc2", Less),
        ("1.0-1~bpo12+1", "1.0-1", Less),
        ("1:0.0", "2.0", Greater),
        ("1.0", "1.0-0", Equal),
        ("0:1.0", "1.0", Equal),
        ("1.0-1", "1.0-1~", Greater),
        ("a", "b", Less),
        ("a~", "a", Less),
        // Letters sort before non-letters; punctuation by ASCII code.
        ("1.0a", "1.0+", Less),
        ("1.0a", "1.0.", Less),
        ("1.0+", "1.0.", Less),
        ("1.0.1", "1.0+x", Greater),
        ("1.0", "1.0+b1", Less),
        ("1.0+dfsg-1", "1.0-1", Greater),
        ("2.30-1ubuntu1", "2.30-1", Greater),
        ("1.0-1", "1.0-1+b1", Less),
        ("1.0-1", "1.0-1.1", Less),
        // Digit runs are numbers: leading zeros do not count.
        ("1.10", "1.9", Greater),
        ("1.010", "1.10", Equal),
        ("1.002", "1.2", Equal),
        ("1.0", "1.00", Equal),
        ("10", "9", Greater),
        ("1.0", "1.0.0", Less),
        ("1.0a0", "1.0a", Equal),
        ("1.0a1", "1.0a", Greater),
        ("18446744073709551616", "18446744073709551615", Greater),
        // Epochs: numeric, 0 when missing, and they outrank everything else.
        ("01:1.0", "1:1.0", Equal),
        ("2:1.0", "1:9.9", Greater),
        ("10:1", "9:1", Greater),
        ("1:1.0", "99.0", Greater),
        // Revisions: split at the last hyphen; missing means 0.
        ("1.0-10", "1.0-9", Greater),
        ("1.0-1", "1.0", Greater),
        ("1.0-0.0", "1.0", Greater),
        ("1.0-1~1", "1.0-1", Less),
        ("1.0-2-3", "1.0-2.3", Greater),
        ("1-2-3", "1-2-4", Less),
        ("1.2-3-1", "1.2-1", Greater),
        // Colons after the epoch belong to the upstream version.
        ("1:2:3", "1:2.3", Greater),
        ("1:2:3-1", "1:2:3-1", Equal),
        // dpkg trims blanks around the version.
        (" 1.0 ", "1.0", Equal),
        ("\t1.0-1", "1.0-1", Equal),
        // dpkg --compare-versions: the empty string is no version, before
        // every version, even `~`.
        ("", "", Equal),
        ("", "0", Less),
        ("", "~", Less),
        ("", "0:~~-~", Less),
    ];

    /// RPM version cases: (a, b, how a compares to b). Every row was checked
    /// with rpm 4.18's `rpm.vercmp`, both ways round.
    const RPM_CASES: &[(&str, &str, Ordering)] = &[
        // rpm tests/rpmvercmp.at, "RPM version comparison".
        ("1.0", "1.0", Equal),
        ("1.0", "2.0", Less),
        ("2.0.1", "2.0.1", Equal),
        ("2.0", "2.0.1", Less),
        ("2.0.1a", "2.0.1a", Equal),
        ("2.0.1a", "2.0.1", Greater),
        ("5.5p1", "5.5p1", Equal),
        ("5.5p1", "5.5p2", Less),
        ("5.5p10", "5.5p10", Equal),
        ("5.5p1", "5.5p10", Less),
        ("10xyz", "10.1xyz", Less),
        ("xyz10", "xyz10", Equal),
        ("xyz10", "xyz10.1", Less),
        ("xyz.4", "xyz.4", Equal),
        ("xyz.4", "8", Less),
        ("xyz.4", "2", Less),
        ("5.5p2", "5.6p1", Less),
        ("5.6p1", "6.5p1", Less),
        ("6.0.rc1", "6.0", Greater),
        ("10b2", "10a1", Greater),
        ("10a2", "10b2", Less),
        ("1.0aa", "1.0aa", Equal),
        ("1.0a", "1.0aa", Less),
        ("10.0001", "10.0001", Equal),
        ("10.0001", "10.1", Equal),
        ("10.0001", "10.0039", Less),
        ("4.999.9", "5.0", Less),
        ("20101121", "20101121", Equal),
        ("20101121", "20101122", Less),
        ("2_0", "2_0", Equal),
        ("2.0", "2_0", Equal),
        // rpmvercmp.at, RhBug:178798: separators only separate.
        ("a", "a", Equal),
        ("a+", "a+", Equal),
        ("a+", "a_", Equal),
        ("+a", "+a", Equal),
        ("+a", "_a", Equal),
        ("+_", "+_", Equal),
        ("_+", "+_", Equal),
        ("_+", "_+", Equal),
        ("+", "_", Equal),
        // rpmvercmp.at, tilde sorting.
        ("1.0~rc1", "1.0~rc1", Equal),
        ("1.0~rc1", "1.0", Less),
        ("1.0~rc1", "1.0~rc2", Less),
        ("1.0~rc1~git123", "1.0~rc1~git123", Equal),
        ("1.0~rc1~git123", "1.0~rc1", Less),
        // rpmvercmp.at, caret sorting.
        ("1.0^", "1.0^", Equal),
        ("1.0^", "1.0", Greater),
        ("1.0^git1", "1.0^git1", Equal),
        ("1.0^git1", "1.0", Greater),
        ("1.0^git1", "1.0^git2", Less),
        ("1.0^git1", "1.01", Less),
        ("1.0^20160101", "1.0^20160101", Equal),
        ("1.0^20160101", "1.0.1", Less),
        ("1.0^20160101^git1", "1.0^20160101^git1", Equal),
        ("1.0^20160102", "1.0^20160101^git1", Greater),
        // rpmvercmp.at, tilde and caret together.
        ("1.0~rc1^git1", "1.0~rc1^git1", Equal),
        ("1.0~rc1^git1", "1.0~rc1", Greater),
        ("1.0^git1~pre", "1.0^git1~pre", Equal),
        ("1.0^git1", "1.0^git1~pre", Greater),
        // rpmvercmp.at, oddities kept on purpose (RhBug:811992).
        ("1b.fc17", "1b.fc17", Equal),
        ("1b.fc17", "1.fc17", Less),
        ("1g.fc17", "1g.fc17", Equal),
        ("1g.fc17", "1.fc17", Greater),
        // rpmvercmp.at, oddities: non-ASCII characters only separate.
        ("1.1.α", "1.1.α", Equal),
        ("1.1.α", "1.1.β", Equal),
        ("1.1.αα", "1.1.α", Equal),
        ("1.1.α", "1.1.ββ", Equal),
        // Ours: numbers of any size, and leading zeros.
        ("0010", "10", Equal),
        ("18446744073709551616", "18446744073709551615", Greater),
        ("1.0", "1.0.", Equal),
    ];

    /// RPM EVR cases: (a, b, how a compares to b). Checked like `RPM_CASES`,
    /// except the empty string, which rpm refuses.
    const RPM_EVR_CASES: &[(&str, &str, Ordering)] = &[
        // The epoch outranks version and release; missing is 0.
        ("1:1.0-1", "2.0-1", Greater),
        ("2.9.14-1.el9", "1:2.9.13-1.el9", Less),
        ("0:2.0-1", "2.0-1", Equal),
        (":2.0-1", "2.0-1", Equal),
        ("01:1.0", "1:1.0", Equal),
        ("10:1", "9:1", Greater),
        // A colon not after digits is part of the version, a separator.
        ("a:1.0", "1.0", Less),
        ("a:1.0", "a.1.0", Equal),
        // Releases, split at the last hyphen.
        ("3.0.7-27.el9", "3.0.7-25.el9", Greater),
        ("5.14.0-427.13.1.el9_4", "5.14.0-362.24.1.el9_3", Greater),
        ("1.0-1.el9", "1.0-1.el9_1", Less),
        ("1.0-1", "1.0-1", Equal),
        ("1.0-2-3", "1.0-2.3", Greater),
        ("1.0~rc1-1", "1.0-1", Less),
        ("1.0^git1-1", "1.0-2", Greater),
        ("1.0-1~1", "1.0-1", Less),
        // The empty string (which rpm refuses) is no version: first.
        ("", "", Equal),
        ("", "~", Less),
        ("", "0:~-~", Less),
        // A missing release sorts before every release, even `~` and empty.
        ("1.0", "1.0-1", Less),
        ("1.0", "1.0-~1", Less),
        ("1.0-", "1.0", Greater),
        ("1.0-", "1.0-~", Greater),
    ];

    fn check_table(cmp: fn(&str, &str) -> Ordering, cases: &[(&str, &str, Ordering)]) {
        for &(a, b, expected) in cases {
            assert_eq!(cmp(a, b), expected, "{a:?} vs {b:?}");
            assert_eq!(cmp(b, a), expected.reverse(), "{b:?} vs {a:?}");
            assert_eq!(cmp(a, a), Equal, "{a:?} vs itself");
        }
    }

    #[test]
    fn debian_cases_follow_dpkg() {
        check_table(compare_deb, DEB_CASES);
    }

    #[test]
    fn rpm_cases_follow_rpmvercmp() {
        check_table(compare_rpm, RPM_CASES);
    }

    #[test]
    fn rpm_evr_cases_follow_rpmvercmp() {
        check_table(compare_rpm, RPM_EVR_CASES);
    }

    #[test]
    fn scheme_follows_the_package_format() {
        assert_eq!(scheme_for_format(PackageFormat::Deb), VersionScheme::Deb);
        assert_eq!(scheme_for_format(PackageFormat::Rpm), VersionScheme::Rpm);
        // Where the schemes disagree: `1.0-0` is `1.0` for dpkg; for rpm a
        // release sorts after none, and `~` in a release sorts first.
        assert_eq!(VersionScheme::Deb.compare("1.0", "1.0-0"), Equal);
        assert_eq!(VersionScheme::Rpm.compare("1.0", "1.0-0"), Less);
        // dpkg sorts letters before punctuation; rpm ignores punctuation.
        assert_eq!(VersionScheme::Deb.compare("1.0+1", "1.0.1"), Less);
        assert_eq!(VersionScheme::Rpm.compare("1.0+1", "1.0.1"), Equal);
        // rpm sorts numbers above letters; dpkg compares them in turn.
        assert_eq!(VersionScheme::Deb.compare("1.a", "1.1"), Greater);
        assert_eq!(VersionScheme::Rpm.compare("1.a", "1.1"), Less);
    }

    #[test]
    fn sorting_a_realistic_list() {
        let mut deb = vec![
            "2:1.0-1",
            "1.2.3-1",
            "1.2.3-1+deb12u1",
            "1.2.3-1~bpo11+1",
            "1.2.3~rc1-1",
            "1:0.9-1",
            "1.2.3-1ubuntu0.1",
        ];
        deb.sort_by(|a, b| compare_deb(a, b));
        // Letters before punctuation: `1ubuntu0.1` comes before `1+deb12u1`.
        assert_eq!(
            deb,
            [
                "1.2.3~rc1-1",
                "1.2.3-1~bpo11+1",
                "1.2.3-1",
                "1.2.3-1ubuntu0.1",
                "1.2.3-1+deb12u1",
                "1:0.9-1",
                "2:1.0-1",
            ]
        );
        let mut rpm = vec![
            "5.14.0-427.13.1.el9_4",
            "5.14.0-362.24.1.el9_3",
            "1:5.0-1.el9",
            "5.14.0~rc1-1.el9",
            "5.14.0^20240101git1-1.el9",
            "5.14.1-1.el9",
        ];
        rpm.sort_by(|a, b| compare_rpm(a, b));
        assert_eq!(
            rpm,
            [
                "5.14.0~rc1-1.el9",
                "5.14.0-362.24.1.el9_3",
                "5.14.0-427.13.1.el9_4",
                "5.14.0^20240101git1-1.el9",
                "5.14.1-1.el9",
                "1:5.0-1.el9",
            ]
        );
    }

    // ---- Property tests --------------------------------------------------

    /// Normal forms: two versions compare equal exactly when these are
    /// equal. Written independently of the comparison, from the documented
    /// rules.
    #[derive(Debug, PartialEq, Eq)]
    enum Normal {
        /// The empty string (for Debian, also blanks only).
        NoVersion,
        /// Epoch without leading zeros, then the parts of the version and of
        /// the revision: each a run of non-digits with the value of the run
        /// of digits after it (without leading zeros). A version that is all
        /// zeros (`0`, `00`, the empty string) has no parts.
        Deb(String, Vec<(String, String)>, Vec<(String, String)>),
        /// Epoch without leading zeros, the version's segments, and the
        /// release's segments (`None` when there is no release).
        Rpm(String, Vec<Segment>, Option<Vec<Segment>>),
    }

    #[derive(Debug, PartialEq, Eq)]
    enum Segment {
        Tilde,
        Caret,
        Letters(String),
        Number(String),
    }

    /// `(epoch, rest)` when `s` starts with digits (maybe none) and a colon.
    fn epoch_of(s: &str) -> (String, &str) {
        match s.split_once(':') {
            Some((epoch, rest)) if epoch.chars().all(|c| c.is_ascii_digit()) => {
                (epoch.trim_start_matches('0').to_owned(), rest)
            }
            _ => (String::new(), s),
        }
    }

    fn deb_normal(s: &str) -> Normal {
        let s = s.trim_matches([' ', '\t']);
        if s.is_empty() {
            return Normal::NoVersion;
        }
        let (epoch, rest) = epoch_of(s);
        let (version, revision) = rest.rsplit_once('-').unwrap_or((rest, ""));
        let parts = |s: &str| {
            let mut parts = Vec::new();
            let mut chars = s.chars().peekable();
            while chars.peek().is_some() {
                let mut text = String::new();
                let mut number = String::new();
                while let Some(c) = chars.next_if(|c| !c.is_ascii_digit()) {
                    text.push(c);
                }
                while let Some(c) = chars.next_if(char::is_ascii_digit) {
                    number.push(c);
                }
                parts.push((text, number.trim_start_matches('0').to_owned()));
            }
            if parts == [(String::new(), String::new())] {
                parts.clear();
            }
            parts
        };
        Normal::Deb(epoch, parts(version), parts(revision))
    }

    fn rpm_segments(s: &str) -> Vec<Segment> {
        let mut segments = Vec::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '~' {
                segments.push(Segment::Tilde);
            } else if c == '^' {
                segments.push(Segment::Caret);
            } else if c.is_ascii_digit() {
                let mut run = String::from(c);
                while let Some(c) = chars.next_if(char::is_ascii_digit) {
                    run.push(c);
                }
                segments.push(Segment::Number(run.trim_start_matches('0').to_owned()));
            } else if c.is_ascii_alphabetic() {
                let mut run = String::from(c);
                while let Some(c) = chars.next_if(char::is_ascii_alphabetic) {
                    run.push(c);
                }
                segments.push(Segment::Letters(run));
            }
        }
        segments
    }

    fn rpm_normal(s: &str) -> Normal {
        if s.is_empty() {
            return Normal::NoVersion;
        }
        let (epoch, rest) = epoch_of(s);
        match rest.rsplit_once('-') {
            Some((version, release)) => {
                Normal::Rpm(epoch, rpm_segments(version), Some(rpm_segments(release)))
            }
            None => Normal::Rpm(epoch, rpm_segments(rest), None),
        }
    }

    /// Short strings over a version alphabet, weighted so that digits and
    /// the special characters come up often and collisions happen.
    fn version_string(alphabet: &'static [char]) -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(alphabet), 0..10)
            .prop_map(|chars| chars.into_iter().collect())
    }

    const DEB_ALPHABET: &[char] = &[
        '0', '0', '1', '1', '2', '9', 'a', 'b', 'z', 'A', '.', '.', '+', '~', '~', '-', ':',
    ];
    const RPM_ALPHABET: &[char] = &[
        '0', '0', '1', '1', '2', '9', 'a', 'b', 'z', 'A', '.', '.', '_', '~', '~', '^', '^', '-',
        ':',
    ];

    /// Versions shaped like real ones: `[digits:]body[-body]`.
    fn structured(alphabet: &'static [char]) -> impl Strategy<Value = String> {
        (
            prop::option::of("[0-9]{0,2}"),
            version_string(alphabet),
            prop::option::of(version_string(alphabet)),
        )
            .prop_map(|(epoch, version, release)| {
                let mut s = epoch.map(|e| format!("{e}:")).unwrap_or_default();
                s.push_str(&version.replace([':', '-'], "."));
                if let Some(release) = release {
                    s.push('-');
                    s.push_str(&release.replace([':', '-'], "."));
                }
                s
            })
    }

    fn deb_version() -> impl Strategy<Value = String> {
        prop_oneof![version_string(DEB_ALPHABET), structured(DEB_ALPHABET)]
    }

    fn rpm_version() -> impl Strategy<Value = String> {
        prop_oneof![version_string(RPM_ALPHABET), structured(RPM_ALPHABET)]
    }

    /// Adds a leading zero to some runs of digits: the same number.
    fn pad_zeros(s: &str, pads: &[bool]) -> String {
        let mut out = String::new();
        let mut pads = pads.iter().cycle();
        let mut previous_digit = false;
        for c in s.chars() {
            let digit = c.is_ascii_digit();
            if digit && !previous_digit && *pads.next().unwrap_or(&false) {
                out.push('0');
            }
            out.push(c);
            previous_digit = digit;
        }
        out
    }

    /// A second version that is often, but not always, equal to `a`.
    fn deb_variant(a: &str, pads: &[bool], zero_epoch: bool, zero_revision: bool) -> String {
        let mut b = pad_zeros(a, pads);
        if zero_epoch && epoch_of(&b).1 == b {
            b.insert_str(0, "0:");
        }
        if zero_revision && !b.contains('-') {
            b.push_str("-0");
        }
        b
    }

    fn rpm_variant(a: &str, pads: &[bool], zero_epoch: bool, swap_separators: bool) -> String {
        let mut b = pad_zeros(a, pads);
        if zero_epoch && epoch_of(&b).1 == b {
            b.insert_str(0, "0:");
        }
        if swap_separators {
            b = b
                .replace('.', "\u{1}")
                .replace('_', ".")
                .replace('\u{1}', "_");
        }
        b
    }

    fn check_order(cmp: fn(&str, &str) -> Ordering, a: &str, b: &str, c: &str) {
        // Reflexive.
        for x in [a, b, c] {
            assert_eq!(cmp(x, x), Equal, "{x:?} vs itself");
        }
        // Antisymmetric.
        for (x, y) in [(a, b), (b, c), (a, c)] {
            assert_eq!(cmp(x, y), cmp(y, x).reverse(), "{x:?} vs {y:?}");
        }
        // Transitive, for every arrangement of the three.
        for [x, y, z] in [
            [a, b, c],
            [a, c, b],
            [b, a, c],
            [b, c, a],
            [c, a, b],
            [c, b, a],
        ] {
            if cmp(x, y) != Greater && cmp(y, z) != Greater {
                assert_ne!(cmp(x, z), Greater, "{x:?} <= {y:?} <= {z:?}");
            }
            if cmp(x, y) == Equal && cmp(y, z) == Equal {
                assert_eq!(cmp(x, z), Equal, "{x:?} = {y:?} = {z:?}");
            }
        }
    }

    /// After sorting, every pair is in order: a chain of comparisons agrees
    /// with the direct one (transitivity across many values at once).
    fn check_sorted(cmp: fn(&str, &str) -> Ordering, mut versions: Vec<String>) {
        versions.sort_by(|a, b| cmp(a, b));
        for (i, x) in versions.iter().enumerate() {
            for y in &versions[i + 1..] {
                assert_ne!(cmp(x, y), Greater, "{x:?} sorted before {y:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn deb_is_a_total_order(a in deb_version(), b in deb_version(), c in deb_version()) {
            check_order(compare_deb, &a, &b, &c);
        }

        #[test]
        fn deb_sorts_consistently(versions in prop::collection::vec(deb_version(), 0..12)) {
            check_sorted(compare_deb, versions);
        }

        #[test]
        fn deb_equal_means_same_normal_form(
            a in deb_version(),
            other in deb_version(),
            pads in prop::collection::vec(any::<bool>(), 1..4),
            variant in any::<bool>(),
            zero_epoch in any::<bool>(),
            zero_revision in any::<bool>(),
        ) {
            let b = if variant { deb_variant(&a, &pads, zero_epoch, zero_revision) } else { other };
            prop_assert_eq!(
                compare_deb(&a, &b) == Equal,
                deb_normal(&a) == deb_normal(&b),
                "{:?} vs {:?}: {:?} / {:?}", a, b, deb_normal(&a), deb_normal(&b)
            );
        }

        #[test]
        fn rpm_is_a_total_order(a in rpm_version(), b in rpm_version(), c in rpm_version()) {
            check_order(compare_rpm, &a, &b, &c);
        }

        #[test]
        fn rpm_sorts_consistently(versions in prop::collection::vec(rpm_version(), 0..12)) {
            check_sorted(compare_rpm, versions);
        }

        #[test]
        fn rpm_equal_means_same_normal_form(
            a in rpm_version(),
            other in rpm_version(),
            pads in prop::collection::vec(any::<bool>(), 1..4),
            variant in any::<bool>(),
            zero_epoch in any::<bool>(),
            swap_separators in any::<bool>(),
        ) {
            let b = if variant { rpm_variant(&a, &pads, zero_epoch, swap_separators) } else { other };
            prop_assert_eq!(
                compare_rpm(&a, &b) == Equal,
                rpm_normal(&a) == rpm_normal(&b),
                "{:?} vs {:?}: {:?} / {:?}", a, b, rpm_normal(&a), rpm_normal(&b)
            );
        }

        /// Any string at all, Unicode and control characters included: no
        /// panic, and still an order.
        #[test]
        fn arbitrary_strings_are_ordered(a in any::<String>(), b in any::<String>(), c in any::<String>()) {
            check_order(compare_deb, &a, &b, &c);
            check_order(compare_rpm, &a, &b, &c);
        }
    }
}
