/**
 * Saves a file the API answered, through a blob URL: the file was fetched with the in-memory
 * token, so the browser cannot fetch it again by a link of its own.
 */
export function saveFile(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  // The click only starts the download: the URL must outlive it, not the page.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
