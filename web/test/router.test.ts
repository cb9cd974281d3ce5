import { test } from "node:test";
import assert from "node:assert/strict";
import { parseRoute } from "../src/router";

test("routes: projects, a project, the viewer with and without a slice, unknown paths", () => {
  assert.deepEqual(parseRoute("/", ""), { page: "projects" });
  assert.deepEqual(parseRoute("/audit", ""), { page: "audit" });
  assert.deepEqual(parseRoute("/projects/12", ""), { page: "project", pid: "12" });
  assert.deepEqual(parseRoute("/volumes/3", "?z=7"), { page: "viewer", vid: "3", z: 7 });
  assert.deepEqual(parseRoute("/volumes/3/", ""), { page: "viewer", vid: "3", z: null });
  assert.deepEqual(parseRoute("/volumes/3", "?z=-1"), { page: "viewer", vid: "3", z: null });
  assert.deepEqual(parseRoute("/nope/1/2", ""), { page: "missing", path: "/nope/1/2" });
});
