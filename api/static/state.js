// The job and review on screen, shared by the modules that show and change them. What only
// one module needs (the API key, a drag in progress, whether a save is out) stays in it.

export const state = {
  route: 0, // bumped on every navigation, so that stale polls and loads stop
  jobId: null,
  result: null, // the job's TagResult
  catalogs: null, // the catalogs the job searched (null for a job from before they were named)
  duration: 0,
  items: [], // one per lane: suggestions, then added products (see items.js)
  selected: -1, // index into items
  selectedSegment: 0,
  revision: 0, // of the stored review: a save names it, and the service refuses a stale one
  dirty: false,
  edits: 0, // changes made, counted: a save knows whether more came while it ran
  discardArmed: false, // unsaved changes were warned about once: the next leave discards them
};
