#!/usr/bin/env bash
# Builds the Debian package of Lis: build/lis_VERSION_ARCH.deb.
#
#   scripts/build-deb.sh [OUT_DIR]      (default: build/)
#
# The package holds /usr/bin/lis (also /usr/bin/lis-cluster), /etc/lis/lis.toml (a conffile),
# the lis.service unit, manual pages generated from the commands' --help, the Proxmox VE
# storage plugin and the docs. The binary links the Swift runtime statically, so the package
# needs only Debian's libc, libstdc++, libgcc, libsqlite3 and zlib (dpkg-shlibdeps works the
# list out). Nothing is fetched but SwiftPM's packages. Then lintian checks it, if installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$root/build}" && cd "${1:-$root/build}" && pwd)
cd "$root"

echo "== building lis (release, Swift runtime linked statically)"
swift build -c release --static-swift-stdlib --product lis 2>&1 | tail -n 1
swift build --product generate-manual 2>&1 | tail -n 1
lis=.build/release/lis
version=$("$lis" --version)
arch=$(dpkg --print-architecture)
name="lis_${version}_${arch}"
stage=$(mktemp -d /tmp/lis-deb.XXXXXX)
trap 'rm -rf "$stage"' EXIT
pkg="$stage/$name"

echo "== staging $name"
install -d "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/etc/lis" "$pkg/lib/systemd/system" \
    "$pkg/usr/share/perl5/PVE/Storage/Custom" "$pkg/usr/share/man/man1" "$pkg/usr/share/doc/lis" \
    "$pkg/usr/share/lintian/overrides"
strip --strip-unneeded --remove-section=.comment --remove-section=.note -o "$pkg/usr/bin/lis" "$lis"
chmod 0755 "$pkg/usr/bin/lis"
ln -s lis "$pkg/usr/bin/lis-cluster"  # the seed's name: lis-cluster join|run|init|status
install -m 0644 packaging/lis.toml "$pkg/etc/lis/lis.toml"
install -m 0644 packaging/lis.service "$pkg/lib/systemd/system/lis.service"
install -m 0644 proxmox/PVE/Storage/Custom/LisPlugin.pm "$pkg/usr/share/perl5/PVE/Storage/Custom/LisPlugin.pm"
install -m 0644 packaging/debian/lintian-overrides "$pkg/usr/share/lintian/overrides/lis"

# Manual pages from the commands themselves (swift-argument-parser's generate-manual), one per
# subcommand (lis.volume.create(1), …); the dates are the commit's, so a rebuild is identical.
date=$(git log -1 --format=%cs 2>/dev/null || date -u +%F)
man=$(mktemp -d)
.build/debug/generate-manual "$lis" --multi-page --date "$date" --authors "The Lis developers" -o "$man" >/dev/null
rm -f "$man/lis.help.1"
for page in "$man"/*.1; do
    # A blank line in mdoc is a paragraph break groff warns about: say it with .Pp.
    sed 's/^$/.Pp/' "$page" | gzip -9n >"$pkg/usr/share/man/man1/$(basename "$page").gz"
done
rm -rf "$man"
ln -s lis.1.gz "$pkg/usr/share/man/man1/lis-cluster.1.gz"

# Docs: the ones an operator of a node needs, the licences of what the binary is built from.
install -m 0644 packaging/debian/copyright "$pkg/usr/share/doc/lis/copyright"
for doc in README.md docs/PROXMOX.md docs/CONFIGURATION.md docs/CLUSTER.md docs/DASHBOARD.md; do
    gzip -9n <"$doc" >"$pkg/usr/share/doc/lis/$(basename "$doc").gz"
done
{
    echo "Licences of the Swift packages lis is built from (SwiftPM checkouts), each under its name."
    for dir in .build/checkouts/*/; do
        for file in "$dir"LICENSE* "$dir"NOTICE*; do
            [ -f "$file" ] || continue
            printf '\n===== %s: %s =====\n\n' "$(basename "$dir")" "$(basename "$file")"
            cat "$file"
        done
    done
} | gzip -9n >"$pkg/usr/share/doc/lis/THIRD-PARTY.gz"
{
    echo "lis ($version) unstable; urgency=medium"
    echo
    git log -20 --format='  * %s' 2>/dev/null | cut -c1-80 || echo "  * Release $version."
    echo
    echo " -- Lis developers <lis@localhost>  $(date -u -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")"
} | gzip -9n >"$pkg/usr/share/doc/lis/changelog.gz"

# The control file: dependencies from the binary's own shared-library needs.
shlibs=$(mktemp -d)
mkdir "$shlibs/debian"
printf 'Source: lis\n\nPackage: lis\nArchitecture: any\n' >"$shlibs/debian/control"
depends=$(cd "$shlibs" && dpkg-shlibdeps -O -e"$pkg/usr/bin/lis" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
rm -rf "$shlibs"
[ -n "$depends" ] || { echo "dpkg-shlibdeps found no dependencies for $lis" >&2; exit 1; }
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
    packaging/debian/control.in >"$pkg/DEBIAN/control"
echo /etc/lis/lis.toml >"$pkg/DEBIAN/conffiles"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$pkg/DEBIAN/"
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$pkg/DEBIAN/md5sums" "$pkg/DEBIAN/control" "$pkg/DEBIAN/conffiles"
find "$pkg" -type d -exec chmod 0755 {} +

dpkg-deb --build --root-owner-group -Zxz "$pkg" "$out/$name.deb" >/dev/null
echo "built $out/$name.deb ($(du -h "$out/$name.deb" | cut -f1); installed $((size / 1024)) MiB; Depends: $depends, adduser)"

if command -v lintian >/dev/null; then
    echo "== lintian (each override is explained in packaging/debian/lintian-overrides)"
    lintian --fail-on error,warning --tag-display-limit 0 "$out/$name.deb"
    echo "lintian: no errors or warnings"
fi
