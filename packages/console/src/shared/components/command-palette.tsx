import { type KeyboardEvent, useEffect, useId, useRef, useState, useSyncExternalStore } from 'react';

/** One thing the palette can do: go to a page, open a record, run an action of the page shown. */
export interface PaletteItem {
  /** Unique among the items shown at once. */
  readonly id: string;
  /** What the person reads and types to find it. */
  readonly label: string;
  /** Its kind, read before the label: "Page", "Tenant", "Action". */
  readonly group: string;
  readonly run: () => void;
}

// The actions of the page shown, registered by the page while it is mounted (usePaletteActions):
// the palette sits in the frame, outside the page, so they reach it through this store.
const registered = new Map<symbol, readonly PaletteItem[]>();
const listeners = new Set<() => void>();
let snapshot: readonly PaletteItem[] = [];

function publish(): void {
  snapshot = [...registered.values()].flat();
  for (const listener of listeners) listener();
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Offers `items` in the command palette while the calling component is mounted. */
export function usePaletteActions(items: readonly PaletteItem[]): void {
  const [key] = useState(() => Symbol('page actions'));
  useEffect(() => {
    registered.set(key, items);
    publish();
  }, [key, items]);
  useEffect(
    () => () => {
      registered.delete(key);
      publish();
    },
    [key],
  );
}

/** The words an item is found by: its group and label, lower case. */
function matches(item: PaletteItem, words: string): boolean {
  const text = `${item.group} ${item.label}`.toLowerCase();
  return words
    .toLowerCase()
    .split(/\s+/)
    .every((word) => text.includes(word));
}

/**
 * The command palette: Ctrl+K (⌘K on a Mac) anywhere, or its button, opens a modal dialog with a
 * combobox (WAI-ARIA 1.2 pattern: the input keeps the focus, the options are a listbox pointed at
 * by aria-activedescendant). Up and Down move through the options, Enter runs one, Escape closes.
 * `items` are filtered as typed; `find` adds what the server finds for the words (tenants, say),
 * asked once typing pauses.
 */
export function CommandPalette({
  items,
  find,
}: {
  items: readonly PaletteItem[];
  find?: ((words: string, signal: AbortSignal) => Promise<readonly PaletteItem[]>) | undefined;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const input = useRef<HTMLInputElement>(null);
  const opener = useRef<Element | null>(null);
  const [open, setOpen] = useState(false);
  const [words, setWords] = useState('');
  const [found, setFound] = useState<{ words: string; items: readonly PaletteItem[] }>({
    words: '',
    items: [],
  });
  const [searching, setSearching] = useState(false);
  const [active, setActive] = useState(0);
  const pageActions = useSyncExternalStore(subscribe, () => snapshot);
  const id = useId();

  const show = () => {
    if (dialog.current?.open) return;
    opener.current = document.activeElement;
    setWords('');
    setActive(0);
    setOpen(true);
    dialog.current?.showModal();
    input.current?.focus();
  };
  const close = () => {
    dialog.current?.close();
  };

  useEffect(() => {
    const onKey = (event: globalThis.KeyboardEvent) => {
      if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === 'k') {
        event.preventDefault();
        show();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });

  const trimmed = words.trim();
  useEffect(() => {
    if (!open || find === undefined || trimmed === '') return;
    const abort = new AbortController();
    // Asked when typing pauses, not at each key: the server is searched once per pause.
    const timer = setTimeout(() => {
      setSearching(true);
      find(trimmed, abort.signal).then(
        (result) => {
          setFound({ words: trimmed, items: result });
          setSearching(false);
        },
        (error: unknown) => {
          if (abort.signal.aborted) return;
          setSearching(false);
          console.warn('the palette could not search', error);
        },
      );
    }, 200);
    return () => {
      clearTimeout(timer);
      abort.abort();
    };
  }, [open, find, trimmed]);

  const local = [...pageActions, ...items].filter((item) => matches(item, trimmed));
  const options = [...local, ...(found.words === trimmed && trimmed !== '' ? found.items : [])];
  const current = Math.min(active, Math.max(options.length - 1, 0));
  const listId = `${id}-list`;
  const optionId = (index: number) => `${id}-option-${index}`;

  const run = (item: PaletteItem | undefined) => {
    if (item === undefined) return;
    close();
    item.run();
  };
  const onKeyDown = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === 'ArrowDown') {
      event.preventDefault();
      setActive(options.length === 0 ? 0 : (current + 1) % options.length);
    } else if (event.key === 'ArrowUp') {
      event.preventDefault();
      setActive(options.length === 0 ? 0 : (current - 1 + options.length) % options.length);
    } else if (event.key === 'Home' && options.length > 0) {
      event.preventDefault();
      setActive(0);
    } else if (event.key === 'End' && options.length > 0) {
      event.preventDefault();
      setActive(options.length - 1);
    } else if (event.key === 'Enter') {
      event.preventDefault();
      run(options[current]);
    }
  };

  useEffect(() => {
    document.getElementById(optionId(current))?.scrollIntoView({ block: 'nearest' });
  });

  return (
    <>
      <button type="button" className="palette-open" onClick={show} aria-keyshortcuts="Control+K Meta+K">
        Commands <kbd>Ctrl K</kbd>
      </button>
      <dialog
        ref={dialog}
        className="palette"
        aria-label="Command palette"
        onClose={() => {
          setOpen(false);
          // Back where the person was: the page behind the dialog keeps its place.
          if (opener.current instanceof HTMLElement && opener.current.isConnected) opener.current.focus();
        }}
      >
        <input
          ref={input}
          role="combobox"
          aria-label="Go to, find a tenant, or run an action"
          aria-expanded={open && options.length > 0}
          aria-controls={listId}
          aria-autocomplete="list"
          aria-activedescendant={options.length > 0 ? optionId(current) : undefined}
          value={words}
          onChange={(event) => {
            setWords(event.target.value);
            setActive(0);
          }}
          onKeyDown={onKeyDown}
          autoComplete="off"
          spellCheck={false}
          placeholder="Type to search"
        />
        <div id={listId} role="listbox" aria-label="Results" className="palette-list">
          {options.map((item, index) => (
            // biome-ignore lint/a11y/useKeyWithClickEvents: the keyboard reaches options through the combobox (aria-activedescendant), as the pattern has it
            <div
              key={`${item.group}:${item.id}`}
              id={optionId(index)}
              role="option"
              // Focusable for a pointer, never tabbed to: the focus stays in the combobox.
              tabIndex={-1}
              aria-selected={index === current}
              className={index === current ? 'active' : undefined}
              onClick={() => run(item)}
              onMouseMove={() => setActive(index)}
            >
              <span className="who">{item.group}</span> {item.label}
            </div>
          ))}
        </div>
        <p role="status" className="palette-status">
          {searching ? 'Searching…' : `${options.length} result${options.length === 1 ? '' : 's'}`}
        </p>
      </dialog>
    </>
  );
}
