import { useMutation } from '@tanstack/react-query';
import { type Call, download } from './api.ts';

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

/** What {@link useSaveFile} saves: a download (a call in a media type the API answers) and its file's name. */
export interface FileToSave {
  readonly call: Call;
  readonly name: string;
}

/**
 * Downloads a file with the session's token and saves it, as a mutation: `isPending` while it is
 * read, `error` when the API refused it, for the page to show beside its button. The one way the
 * console's pages save what they show (a CSV, an invoice's PDF, an archive).
 */
export function useSaveFile() {
  return useMutation({
    mutationFn: async ({ call, name }: FileToSave) => saveFile(await download(call), name),
  });
}
