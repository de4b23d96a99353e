-- Security advisories (OSV), known-exploited CVEs (CISA KEV), and which
-- patches fix which advisories.

create table advisory (
    id integer primary key autoincrement,
    -- the advisory's own id, e.g. DSA-5678-1, USN-6543-1, ALSA-2024:1234
    advisory_id text not null unique,
    summary text not null default '',
    details text not null default '',
    -- critical, high, medium, low, none or unknown
    severity text not null default 'unknown',
    cvss_vector text,
    -- base score times ten (9.8 → 98), so both databases store an integer
    cvss_score10 integer,
    published integer,
    modified integer not null,
    withdrawn integer,
    -- where it was imported from (file, entry in a zip, URL)
    source text not null default '',
    -- SHA-256 of the advisory as imported: the same data again changes nothing
    content_hash text not null,
    imported_at integer not null
);

create table advisory_cve (
    advisory_id integer not null references advisory (id) on delete cascade,
    cve text not null,
    primary key (advisory_id, cve)
);
create index advisory_cve_cve on advisory_cve (cve);

-- One affected package of an advisory, with its fixed versions.
create table advisory_affected (
    advisory_id integer not null references advisory (id) on delete cascade,
    -- OSV ecosystem, e.g. Debian:12, Ubuntu:22.04:LTS, AlmaLinux:9
    ecosystem text not null,
    -- OSV package name: the source package for Debian and Ubuntu
    package text not null,
    -- JSON: the OSV ranges and versions, evaluated with the ecosystem's order
    ranges text not null default '[]'
);
create index advisory_affected_package on advisory_affected (package, ecosystem);

create table kev (
    cve text primary key,
    vendor text not null default '',
    product text not null default '',
    name text not null default '',
    date_added integer not null,
    due_date integer,
    ransomware text not null default '',
    content_hash text not null
);

create table patch_advisory (
    patch_id integer not null references patch (id) on delete cascade,
    advisory_id integer not null references advisory (id) on delete cascade,
    primary key (patch_id, advisory_id)
);
create index patch_advisory_advisory on patch_advisory (advisory_id);

-- The source package a patch's binary package is built from (from the
-- server's inventory), which Debian and Ubuntu advisories name.
alter table patch add column source_package text;
