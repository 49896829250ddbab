// Whether this browser can play a chosen file, found before it is uploaded: a <video> (never
// on the page) opens it from an object URL. It plays if its metadata loads with a picture;
// an error or no picture means not. Undecided after CHECK_MS: null (not known).

const CHECK_MS = 4000;

export function checkPlayable(file) {
  return new Promise((resolve) => {
    const video = document.createElement("video");
    const url = URL.createObjectURL(file);
    let timer = null;
    const done = (answer) => {
      clearTimeout(timer);
      video.removeAttribute("src");
      video.load();
      URL.revokeObjectURL(url);
      resolve(answer);
    };
    timer = setTimeout(() => done(null), CHECK_MS);
    video.preload = "metadata";
    video.muted = true;
    video.addEventListener("loadedmetadata", () => done(video.videoWidth > 0 && video.videoHeight > 0), { once: true });
    video.addEventListener("error", () => done(false), { once: true });
    video.src = url;
  });
}
