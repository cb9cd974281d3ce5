// Package e2e drives the embedded web app in a real headless Chromium (Debian's /usr/bin/chromium) against a real
// server and store: the annotation flow a specialist goes through, from an empty project to saved, reloaded,
// shared, conflicting and reviewed labels. Screenshots go to e2e/artifacts/.
package e2e
