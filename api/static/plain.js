// What went wrong, in plain words: the service's errors (see api.js) as a creator would say
// them, with what to do next. An error this does not know keeps the service's own message.

const BY_CODE = {
  unsupported_media: () => "This file is not a video. Choose an MP4, MOV or WebM video.",
  undecodable_video: () => "This video could not be read: it may be damaged or cut short. Export it again and retry.",
  video_too_large: (err) => "This video is too long or too large for this service (" + err.message + ").",
  busy: () => "The service is busy right now. Try again in a minute.",
};

export function plainMessage(err) {
  if (BY_CODE[err.code]) return BY_CODE[err.code](err);
  if (err.status === 0) return "The service could not be reached. Check your connection and try again.";
  if (err.status === 413) return "This file is too large to upload (" + err.message + ").";
  if (err.status === 429) return BY_CODE.busy(err);
  if (err.status >= 500) return "Something went wrong on the service. Try again in a minute.";
  return err.message;
}
