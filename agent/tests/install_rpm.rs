//! End to end with Debian's own rpm and dnf, as root, on a separate root so
//! that the machine's package databases are never touched: test packages
//! built with `rpmbuild`, published with `createrepo_c`, with advisories
//! added by `modifyrepo_c`; the old versions installed by dnf into the
//! root; the real `patchport-agent` binary enrolled with a real portal and
//! told to use dnf on that root; its scan checked against what dnf's own
//! `check-update` and `updateinfo list` say; an install job run by the
//! agent through dnf; the new version in the root's rpm database and the
//! patch shown as installed; a rollback job back to the old version
//! through `dnf downgrade` (the patch missing again), and one to a version
//! the repository does not have, refused. Everything lives in one
//! temporary directory, removed even when the test fails.
//!
//! Needs root, rpm, rpmbuild, dnf, createrepo_c and modifyrepo_c; outside
//! CI it is skipped (with a message) when any is missing. Under CI (`CI`
//! set) it must run.
//!
//! With `PATCHPORT_DNF_FIXTURES` set to a directory, it also writes there
//! what rpm and dnf print to the agent before the job (the real-output
//! fixtures in `tests/fixtures`, see its README).

mod support;

use patchport_agent::config::{InstallRoot, PackageManager};
use patchport_agent::scan::collect::{SEARCH_PATH, find_program};
use patchport_agent::scan::{dnf, rpm};
use patchport_core::protocol::{JobSpec, PackageFormat, PackageTarget, Report};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The package the install job upgrades, from 1.0-1 to 1.1-1, with an
/// Important security advisory.
const PROBE: &str = "patchport-e2e-probe";
/// Host architecture, with an epoch and a name wider than dnf's default
/// column; its update has a bugfix advisory.
const WIDE: &str = "patchport-e2e-probe-with-a-name-wider-than-its-column";
/// Install-only (as kernels are): two versions side by side, a third
/// offered with a security advisory that has no severity.
const KERNEL: &str = "patchport-e2e-kernel";
/// Installed, and replaced by `NEW`, which obsoletes it: not an update.
const OLD: &str = "patchport-e2e-old";
const NEW: &str = "patchport-e2e-new";
const REPO_ID: &str = "patchport-test";
const PROBE_ADVISORY: &str = "PPTEST-2026:0001";

/// One package to build.
struct Build {
    name: &'static str,
    epoch: Option<u32>,
    version: &'static str,
    release: &'static str,
    noarch: bool,
    obsoletes: Option<&'static str>,
}

const fn build(name: &'static str, version: &'static str, release: &'static str) -> Build {
    Build {
        name,
        epoch: None,
        version,
        release,
        noarch: true,
        obsoletes: None,
    }
}

static BUILDS: [Build; 9] = [
    build(PROBE, "1.0", "1"),
    build(PROBE, "1.1", "1"),
    Build {
        epoch: Some(2),
        noarch: false,
        ..build(WIDE, "1.0", "1")
    },
    Build {
        epoch: Some(2),
        noarch: false,
        ..build(WIDE, "1.0", "2")
    },
    Build {
        noarch: false,
        ..build(KERNEL, "6.1", "1")
    },
    Build {
        noarch: false,
        ..build(KERNEL, "6.1", "2")
    },
    Build {
        noarch: false,
        ..build(KERNEL, "6.1", "3")
    },
    build(OLD, "1.0", "1"),
    Build {
        obsoletes: Some("patchport-e2e-old < 2"),
        ..build(NEW, "1.0", "1")
    },
];

/// One spec for every package; each version's files live in a directory
/// of their own, so that install-only versions can sit side by side.
const SPEC: &str = "\
Name: %{pkg_name}
Version: %{pkg_version}
Release: %{pkg_release}
%{?pkg_epoch:Epoch: %{pkg_epoch}}
%{?pkg_obsoletes:Obsoletes: %{pkg_obsoletes}}
%{?pkg_noarch:BuildArch: noarch}
Summary: Patchport agent dnf test package
License: MIT

%description
Installed and upgraded by the Patchport agent's dnf test in a separate root.

%install
mkdir -p %{buildroot}/usr/share/doc/%{name}-%{version}-%{release}
echo %{version}-%{release} > %{buildroot}/usr/share/doc/%{name}-%{version}-%{release}/VERSION

%files
/usr/share/doc/%{name}-%{version}-%{release}/VERSION
";

/// Runs `program` and returns its standard output, when it exits with one
/// of `ok_codes`.
fn sh_codes(program: &str, args: &[&str], ok_codes: &[i32]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.code().is_some_and(|c| ok_codes.contains(&c)),
        "{program} {args:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sh(program: &str, args: &[&str]) -> String {
    sh_codes(program, args, &[0])
}

fn can_run() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    // Looked up, not run: even `dnf --version` writes to the machine's
    // /var/log/hawkey.log.
    let missing: Vec<&str> = ["rpm", "rpmbuild", "dnf", "createrepo_c", "modifyrepo_c"]
        .into_iter()
        .filter(|t| find_program(t).is_none())
        .collect();
    if root && missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI must run the dnf install test: it needs root and rpm, rpmbuild, dnf, createrepo_c, modifyrepo_c \
         (root: {root}, missing: {missing:?})"
    );
    eprintln!(
        "SKIPPED: the dnf install test needs root and rpm, rpmbuild, dnf, createrepo_c, modifyrepo_c \
         (root: {root}, missing: {missing:?})"
    );
    false
}

/// A file's path, size and modification time.
type FileState = (PathBuf, u64, Option<std::time::SystemTime>);

/// What the machine's own rpm and dnf hold: rpm's package list (Debian's
/// rpm keeps a database per user) and the files in dnf's directories and
/// its logs, with their sizes and times.
fn host_package_state() -> (String, Vec<FileState>) {
    let mut rpm_packages: Vec<String> = sh("rpm", &["-qa", "--qf", "%{NVRA}\n"])
        .lines()
        .map(str::to_owned)
        .collect();
    rpm_packages.sort();
    let mut paths = Vec::new();
    for dir in [
        "/var/lib/dnf",
        "/var/cache/dnf",
        "/etc/yum.repos.d",
        "/etc/dnf",
    ] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            paths.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
        }
    }
    if let Ok(entries) = std::fs::read_dir("/var/log") {
        paths.extend(
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("dnf") || n.starts_with("hawkey"))
                }),
        );
    }
    let mut files: Vec<FileState> = paths
        .into_iter()
        .map(|path| {
            let meta = std::fs::metadata(&path).ok();
            let size = meta.as_ref().map_or(0, |m| m.len());
            let modified = meta.and_then(|m| m.modified().ok());
            (path, size, modified)
        })
        .collect();
    files.sort();
    (rpm_packages.join("\n"), files)
}

/// Removes the scratch directory (sources, packages, repository and the
/// root with its rpm database, dnf cache and logs) however the test ends.
struct Scratch {
    dir: Option<tempfile::TempDir>,
}

impl Scratch {
    fn path(&self) -> &Path {
        self.dir.as_ref().map(|d| d.path()).unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_owned();
            if let Err(e) = dir.close() {
                eprintln!("could not remove {}: {e}", path.display());
            }
        }
    }
}

/// dnf on `root` with the repositories of the root only: the test's own
/// command line, independent of the agent's.
fn dnf_in(root: &Path, args: &[&str], ok_codes: &[i32]) -> String {
    let installroot = format!("--installroot={}", root.display());
    let reposdir = format!("--setopt=reposdir={}/etc/yum.repos.d", root.display());
    let all: Vec<&str> = [installroot.as_str(), reposdir.as_str()]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    sh_codes("dnf", &all, ok_codes)
}

/// The root's installed packages as rpm prints them: name and arch to
/// `[EPOCH:]VERSION-RELEASE`s.
fn rpm_in(root: &Path) -> BTreeMap<(String, String), Vec<String>> {
    let mut installed: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let text = sh(
        "rpm",
        &[
            "--root",
            root.to_str().unwrap(),
            "-qa",
            "--qf",
            "%{NAME} %{ARCH} %{EVR}\n",
        ],
    );
    for line in text.lines() {
        let [name, arch, evr] = line.split(' ').collect::<Vec<_>>()[..] else {
            panic!("rpm printed {line:?}");
        };
        installed
            .entry((name.into(), arch.into()))
            .or_default()
            .push(evr.into());
    }
    installed
}

/// Builds every package of [`BUILDS`] into `work/rpmbuild/RPMS`.
fn build_packages(work: &Path) -> Vec<PathBuf> {
    let spec = work.join("probe.spec");
    std::fs::write(&spec, SPEC).unwrap();
    let topdir = work.join("rpmbuild");
    let tmp = work.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    for b in &BUILDS {
        let mut defines = vec![
            format!("_topdir {}", topdir.display()),
            format!("_tmppath {}", tmp.display()),
            format!("pkg_name {}", b.name),
            format!("pkg_version {}", b.version),
            format!("pkg_release {}", b.release),
        ];
        defines.extend(b.epoch.map(|e| format!("pkg_epoch {e}")));
        defines.extend(b.obsoletes.map(|o| format!("pkg_obsoletes {o}")));
        if b.noarch {
            defines.push("pkg_noarch 1".into());
        }
        // --nodeps: no build dependencies to check, and so no reading of
        // the machine's rpm database.
        let mut args = vec!["-bb", "--quiet", "--nodeps"];
        for d in &defines {
            args.extend(["--define", d.as_str()]);
        }
        args.push(spec.to_str().unwrap());
        sh("rpmbuild", &args);
    }
    let mut rpms = Vec::new();
    for arch_dir in std::fs::read_dir(topdir.join("RPMS")).unwrap() {
        for rpm in std::fs::read_dir(arch_dir.unwrap().path()).unwrap() {
            rpms.push(rpm.unwrap().path());
        }
    }
    assert_eq!(rpms.len(), BUILDS.len(), "one rpm per build: {rpms:?}");
    rpms
}

/// One advisory for `updateinfo.xml`, fixed by one package of [`BUILDS`].
struct Advisory {
    id: &'static str,
    kind: &'static str,
    severity: Option<&'static str>,
    package: &'static Build,
}

/// The build of `name` at `version`-`release`.
fn built(name: &str, version: &str, release: &str) -> &'static Build {
    BUILDS
        .iter()
        .find(|b| b.name == name && b.version == version && b.release == release)
        .unwrap_or_else(|| panic!("{name}-{version}-{release} is not built"))
}

/// `updateinfo.xml` with `advisories`; packages that are not noarch are
/// built for `arch`.
fn updateinfo_xml(advisories: &[Advisory], arch: &str) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<updates>\n");
    for Advisory {
        id,
        kind,
        severity,
        package,
    } in advisories
    {
        let severity = severity
            .map(|s| format!("    <severity>{s}</severity>\n"))
            .unwrap_or_default();
        let Build {
            name,
            version,
            release,
            ..
        } = package;
        let epoch = package.epoch.unwrap_or(0);
        let arch = if package.noarch { "noarch" } else { arch };
        xml.push_str(&format!(
            "  <update from=\"tests@patchport.invalid\" status=\"stable\" type=\"{kind}\" version=\"1.0\">\n\
             \x20   <id>{id}</id>\n\
             \x20   <title>{name} {kind} update</title>\n\
             {severity}\
             \x20   <issued date=\"2026-11-21 00:00:00\"/>\n\
             \x20   <updated date=\"2026-11-21 00:00:00\"/>\n\
             \x20   <description>A made-up {kind} update for the Patchport agent's dnf test.</description>\n\
             \x20   <references/>\n\
             \x20   <pkglist>\n\
             \x20     <collection short=\"{REPO_ID}\">\n\
             \x20       <name>Patchport test</name>\n\
             \x20       <package name=\"{name}\" epoch=\"{epoch}\" version=\"{version}\" release=\"{release}\" arch=\"{arch}\">\n\
             \x20         <filename>{name}-{version}-{release}.{arch}.rpm</filename>\n\
             \x20       </package>\n\
             \x20     </collection>\n\
             \x20   </pkglist>\n\
             \x20 </update>\n"
        ));
    }
    xml.push_str("</updates>\n");
    xml
}

/// `dnf check-update` entries as (NAME.ARCH, VERSION, REPOSITORY), and
/// whether an obsoletes section followed. Read plainly: dnf sizes its
/// columns to their widest value when its output is not a terminal, so
/// every entry is one line of three words.
fn read_check_update(text: &str) -> (BTreeSet<(String, String, String)>, Vec<String>) {
    let mut entries = BTreeSet::new();
    let mut lines = text.lines();
    for line in lines.by_ref() {
        if line.trim() == "Obsoleting Packages" {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let [na, version, repo] = line.split_whitespace().collect::<Vec<_>>()[..] else {
            panic!("dnf check-update printed {line:?}");
        };
        entries.insert((na.into(), version.into(), repo.into()));
    }
    (entries, lines.map(str::to_owned).collect())
}

/// `dnf updateinfo list` entries as (ADVISORY, TYPE, NEVRA).
fn read_updateinfo(text: &str) -> BTreeSet<(String, String, String)> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let [id, kind, nevra] = line.split_whitespace().collect::<Vec<_>>()[..] else {
                panic!("dnf updateinfo printed {line:?}");
            };
            (id.into(), kind.into(), nevra.into())
        })
        .collect()
}

/// Writes what rpm and dnf print to the agent, with the agent's arguments
/// and environment, into `dir`.
fn write_fixtures(dir: &Path, root: &InstallRoot) {
    let captured = |program: &str, args: &[&str], ok_codes: &[i32]| -> String {
        let out = Command::new(program)
            .args(args)
            .env_clear()
            .env("PATH", SEARCH_PATH)
            .env("LC_ALL", "C")
            .output()
            .unwrap();
        assert!(
            out.status.code().is_some_and(|c| ok_codes.contains(&c)),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let root_args = dnf::root_args(root);
    let dnf_args = |command| dnf::with_root(&root_args, command);
    let files = [
        (
            "rpm-qa-debian-rpm4.txt",
            captured("rpm", &rpm::query_args(Some(root)), &[0]),
        ),
        (
            "dnf-check-update-debian-dnf4.txt",
            captured(
                "dnf",
                &dnf_args(&dnf::CHECK_UPDATE_ARGS),
                &dnf::CHECK_UPDATE_OK_CODES,
            ),
        ),
        (
            "dnf-updateinfo-debian-dnf4.txt",
            captured("dnf", &dnf_args(&dnf::UPDATEINFO_ARGS), &[0]),
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
        eprintln!("wrote {}", dir.join(name).display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_installs_a_dnf_update_in_a_separate_root_through_a_job() {
    if !can_run() {
        return;
    }
    let host_before = host_package_state();
    let scratch = Scratch {
        dir: Some(
            tempfile::Builder::new()
                .prefix("patchport-dnf-")
                .tempdir_in("/tmp")
                .unwrap(),
        ),
    };
    let work = scratch.path().to_owned();
    let arch = sh("rpm", &["--eval", "%{_arch}"]).trim().to_owned();

    // Arrange: the packages, a repository with its advisories, a root that
    // knows only that repository, the old versions installed in it.
    let repo = work.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    for rpm in build_packages(&work) {
        std::fs::copy(&rpm, repo.join(rpm.file_name().unwrap())).unwrap();
    }
    sh("createrepo_c", &["--quiet", repo.to_str().unwrap()]);
    let updateinfo = work.join("updateinfo.xml");
    std::fs::write(
        &updateinfo,
        updateinfo_xml(
            &[
                Advisory {
                    id: PROBE_ADVISORY,
                    kind: "security",
                    severity: Some("Important"),
                    package: built(PROBE, "1.1", "1"),
                },
                Advisory {
                    id: "PPTEST-2026:0002",
                    kind: "bugfix",
                    severity: None,
                    package: built(WIDE, "1.0", "2"),
                },
                Advisory {
                    id: "PPTEST-2026:0003",
                    kind: "security",
                    severity: None,
                    package: built(KERNEL, "6.1", "3"),
                },
            ],
            &arch,
        ),
    )
    .unwrap();
    sh(
        "modifyrepo_c",
        &[
            "--mdtype=updateinfo",
            updateinfo.to_str().unwrap(),
            repo.join("repodata").to_str().unwrap(),
        ],
    );
    let root = work.join("root");
    std::fs::create_dir_all(root.join("etc/yum.repos.d")).unwrap();
    std::fs::create_dir_all(root.join("etc/dnf")).unwrap();
    // The test repository is not signed; the root's own dnf.conf keeps the
    // machine's out of it.
    std::fs::write(
        root.join("etc/yum.repos.d/patchport-test.repo"),
        format!(
            "[{REPO_ID}]\nname=Patchport test repository\nbaseurl=file://{}\ngpgcheck=0\nrepo_gpgcheck=0\n",
            repo.display()
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("etc/dnf/dnf.conf"),
        format!("[main]\ninstallonlypkgs={KERNEL}\n"),
    )
    .unwrap();
    let root_str = root.to_str().unwrap();
    // OLD could not be installed next to the package that obsoletes it
    // without turning obsoletes processing off.
    dnf_in(
        &root,
        &[
            "--assumeyes",
            "--quiet",
            "--setopt=obsoletes=False",
            "install",
            &format!("{PROBE}-1.0-1"),
            &format!("{WIDE}-2:1.0-1"),
            &format!("{KERNEL}-6.1-1"),
            &format!("{OLD}-1.0-1"),
        ],
        &[0],
    );
    dnf_in(
        &root,
        &[
            "--assumeyes",
            "--quiet",
            "install",
            &format!("{KERNEL}-6.1-2"),
        ],
        &[0],
    );
    let installed = rpm_in(&root);
    let key = |name: &str, arch: &str| (name.to_owned(), arch.to_owned());
    assert_eq!(installed[&key(PROBE, "noarch")], ["1.0-1"]);
    assert_eq!(installed[&key(WIDE, &arch)], ["2:1.0-1"]);
    assert_eq!(
        installed[&key(KERNEL, &arch)]
            .iter()
            .collect::<BTreeSet<_>>(),
        BTreeSet::from([&"6.1-1".to_owned(), &"6.1-2".to_owned()]),
        "install-only: both versions kept"
    );
    assert!(installed.contains_key(&key(OLD, "noarch")));

    let install_root = InstallRoot::parse(&root).unwrap();
    if let Some(dir) = std::env::var_os("PATCHPORT_DNF_FIXTURES") {
        write_fixtures(Path::new(&dir), &install_root);
    }

    // What dnf itself says about the root.
    let (check_update, obsoleting) =
        read_check_update(&dnf_in(&root, &["--quiet", "check-update"], &[100]));
    let offered = |name: &str, arch: &str, version: &str| {
        (
            format!("{name}.{arch}"),
            version.to_owned(),
            REPO_ID.to_owned(),
        )
    };
    assert_eq!(
        check_update,
        BTreeSet::from([
            offered(PROBE, "noarch", "1.1-1"),
            offered(WIDE, &arch, "2:1.0-2"),
            offered(KERNEL, &arch, "6.1-3"),
        ]),
        "dnf check-update sees the three updates"
    );
    assert!(
        obsoleting
            .iter()
            .any(|l| l.starts_with(&format!("{NEW}.noarch")))
            && obsoleting
                .iter()
                .any(|l| l.trim_start().starts_with(&format!("{OLD}.noarch"))),
        "and lists {NEW} as obsoleting {OLD}: {obsoleting:?}"
    );
    let advisories = read_updateinfo(&dnf_in(
        &root,
        &["--quiet", "updateinfo", "list", "--updates"],
        &[0],
    ));
    let advisory = |id: &str, kind: &str, nevra: String| (id.to_owned(), kind.to_owned(), nevra);
    assert_eq!(
        advisories,
        BTreeSet::from([
            advisory(
                PROBE_ADVISORY,
                "Important/Sec.",
                format!("{PROBE}-1.1-1.noarch")
            ),
            advisory(
                "PPTEST-2026:0002",
                "bugfix",
                format!("{WIDE}-2:1.0-2.{arch}")
            ),
            advisory(
                "PPTEST-2026:0003",
                "Unknown/Sec.",
                format!("{KERNEL}-6.1-3.{arch}")
            ),
        ]),
        "dnf updateinfo links each update to its advisory, the probe's as Important security"
    );

    // A real portal on loopback.
    let portal = support::portal().await;
    let support::Portal { url, db, dir, .. } = &portal;
    let token = "ppe_dnf_test_token";
    portal.create_token(token, "dnf", 1).await;

    // The real agent binary, told to use dnf on the root.
    let config = dir.path().join("agent.json");
    let state = dir.path().join("agent-state");
    let run_agent = |args: Vec<String>| support::run_agent(config.clone(), args);
    let package_args = || -> Vec<String> {
        vec![
            "--package-manager".into(),
            "dnf".into(),
            "--install-root".into(),
            root_str.into(),
        ]
    };

    // The agent's scan against dnf's answers.
    let scan: Report =
        serde_json::from_str(&run_agent([vec!["scan".into()], package_args()].concat()).await)
            .expect("scan prints a report");
    assert_eq!(scan.package_format, PackageFormat::Rpm);
    assert!(!scan.reboot_required, "a root is not the running system");
    let scanned_packages: BTreeMap<(String, String), Vec<String>> =
        scan.packages.iter().fold(BTreeMap::new(), |mut map, p| {
            map.entry((p.name.clone(), p.arch.clone()))
                .or_default()
                .push(p.version.clone());
            map
        });
    let sorted = |map: BTreeMap<(String, String), Vec<String>>| -> BTreeMap<_, BTreeSet<String>> {
        map.into_iter()
            .map(|(k, v)| (k, v.into_iter().collect()))
            .collect()
    };
    assert_eq!(
        sorted(scanned_packages),
        sorted(installed.clone()),
        "the packages are rpm's in the root, not the machine's"
    );
    let scanned: BTreeSet<(String, String, String)> = scan
        .updates
        .iter()
        .map(|u| {
            (
                format!("{}.{}", u.name, u.arch),
                u.version.clone(),
                u.origin.clone(),
            )
        })
        .collect();
    assert_eq!(scanned, check_update, "the updates are dnf check-update's");
    assert_eq!(scan.updates.len(), check_update.len(), "none twice");
    for update in &scan.updates {
        let nevra = format!("{}-{}.{}", update.name, update.version, update.arch);
        let linked: Vec<&(String, String, String)> =
            advisories.iter().filter(|(_, _, n)| *n == nevra).collect();
        assert_eq!(
            update.advisories,
            linked
                .iter()
                .map(|(id, _, _)| id.clone())
                .collect::<Vec<_>>(),
            "{nevra}: the advisories dnf updateinfo links to it"
        );
        assert_eq!(
            update.security,
            linked.iter().any(|(_, kind, _)| kind.ends_with("/Sec.")),
            "{nevra}: security exactly when one of its advisories is"
        );
        let newest_installed = installed[&(update.name.clone(), update.arch.clone())]
            .iter()
            .max_by(|a, b| patchport_core::version::compare_rpm(a, b))
            .cloned();
        assert_eq!(
            update.installed_version, newest_installed,
            "{nevra}: the newest installed version"
        );
    }
    assert!(
        !scan.updates.iter().any(|u| u.name == NEW || u.name == OLD),
        "an obsoleting package is not an update"
    );

    // Enrolment keeps the settings and reports the same.
    run_agent(
        [
            vec![
                "enroll".into(),
                "--url".into(),
                url.clone(),
                "--token".into(),
                token.into(),
                "--state-dir".into(),
                state.display().to_string(),
            ],
            package_args(),
        ]
        .concat(),
    )
    .await;
    let saved = patchport_agent::config::Config::load(&config).unwrap();
    assert_eq!(saved.packages.manager(), Some(PackageManager::Dnf));
    assert_eq!(saved.packages.root(), Some(&install_root));
    let server_id = portal.only_server().await;
    let mut conn = db.read().await.unwrap();
    let rows = patchport_db::servers::patch_rows(&mut conn, server_id)
        .await
        .unwrap();
    drop(conn);
    let probe: Vec<_> = rows.iter().filter(|p| p.package == PROBE).collect();
    assert_eq!(probe.len(), 1, "the probe's update is listed: {rows:?}");
    let patch = probe[0];
    assert_eq!(
        (
            patch.installed_version.as_deref(),
            patch.version.as_str(),
            patch.arch.as_str(),
            patch.state.as_str(),
            patch.security
        ),
        (Some("1.0-1"), "1.1-1", "noarch", "missing", true),
        "missing, as a security update"
    );
    let portal_updates: BTreeSet<(String, String, bool)> = rows
        .iter()
        .map(|p| (p.package.clone(), p.version.clone(), p.security))
        .collect();
    let reported: BTreeSet<(String, String, bool)> = scan
        .updates
        .iter()
        .map(|u| (u.name.clone(), u.version.clone(), u.security))
        .collect();
    assert_eq!(
        portal_updates, reported,
        "the portal has what the scan found"
    );

    // An admin queues the install; the agent's next run performs it.
    let spec = JobSpec::Install {
        packages: vec![PackageTarget {
            name: PROBE.into(),
            version: "1.1-1".into(),
            arch: patch.arch.clone(),
        }],
    };
    let job_id = portal.queue(server_id, spec).await;
    run_agent(vec!["run".into(), "--once".into()]).await;

    let after = rpm_in(&root);
    assert_eq!(
        after[&key(PROBE, "noarch")],
        ["1.1-1"],
        "rpm in the root has the new version"
    );
    assert_eq!(
        after[&key(WIDE, &arch)],
        ["2:1.0-1"],
        "and nothing else was upgraded"
    );
    let mut conn = db.read().await.unwrap();
    let job = patchport_db::jobs::get(&mut conn, job_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (job.state.as_str(), job.exit_code, job.attempt),
        ("succeeded", Some(0), 1),
        "{job:?}"
    );
    assert!(
        job.log.contains(&format!("dnf --installroot={root_str}"))
            && job.log.contains(&format!("{PROBE}-1.1-1.noarch")),
        "the log keeps the command, on the root: {}",
        job.log
    );
    let rows = patchport_db::servers::patch_rows(&mut conn, server_id)
        .await
        .unwrap();
    drop(conn);
    let states: BTreeMap<&str, &str> = rows
        .iter()
        .map(|p| (p.package.as_str(), p.state.as_str()))
        .collect();
    assert_eq!(
        states,
        BTreeMap::from([(PROBE, "installed"), (WIDE, "missing"), (KERNEL, "missing")]),
        "the re-scan after the job shows the probe installed, the others still missing"
    );
    assert_eq!(
        portal.previous(job_id).await,
        Some(vec![PackageTarget {
            name: PROBE.into(),
            version: "1.0-1".into(),
            arch: "noarch".into(),
        }]),
        "the portal kept the version the install replaced"
    );

    // The install is rolled back through dnf downgrade on the root (1.0-1
    // is still in the repository); the update is missing again.
    assert!(repo.join(format!("{PROBE}-1.0-1.noarch.rpm")).is_file());
    let job = portal.roll_back(&config, PROBE, "1.0-1", "noarch").await;
    assert_eq!(
        (job.state.as_str(), job.exit_code),
        ("succeeded", Some(0)),
        "{job:?}"
    );
    let downgrade = format!("downgrade --assumeyes --quiet -- {PROBE}-1.0-1.noarch");
    assert!(
        job.log.contains(&format!("dnf --installroot={root_str}")) && job.log.contains(&downgrade),
        "the log keeps the downgrade, on the root: {}",
        job.log
    );
    assert_eq!(
        rpm_in(&root),
        installed,
        "rpm in the root is as before the install"
    );
    assert_eq!(
        portal.patches_of(server_id, PROBE).await,
        [("1.1-1".to_owned(), "missing".to_owned())],
        "the update is missing again"
    );

    // A rollback to a version the repository does not have is refused
    // before dnf downgrade runs.
    let job = portal.roll_back(&config, PROBE, "0.9-1", "noarch").await;
    assert_eq!(job.state, "failed", "{job:?}");
    let refusal = support::rollback_refusal(PROBE, "0.9-1", "noarch");
    assert!(job.log.starts_with(&refusal), "{}", job.log);
    assert!(!job.log.contains("downgrade"), "{}", job.log);
    assert_eq!(rpm_in(&root), installed, "nothing changed");

    drop(scratch);
    assert!(!work.exists(), "the scratch directory is gone");
    assert_eq!(
        host_package_state(),
        host_before,
        "the machine's rpm database and dnf directories are as before"
    );
}
