/**
 * Tabs over panes: buttons with `role="tab"` and `aria-controls` naming their pane. One pane is
 * shown at a time; `onChange` hears the name (`data-tab`) of the tab picked.
 */
export class PanelTabs {
  readonly #tabs: HTMLButtonElement[];
  #current: string;

  constructor(root: HTMLElement, onChange: (name: string) => void) {
    this.#tabs = [...root.querySelectorAll<HTMLButtonElement>('[role="tab"]')];
    this.#current =
      this.#tabs.find((t) => t.getAttribute('aria-selected') === 'true')?.dataset['tab'] ?? '';
    for (const tab of this.#tabs)
      tab.addEventListener('click', () => {
        const name = tab.dataset['tab'] ?? '';
        if (name === this.#current) return;
        this.show(name);
        onChange(name);
      });
  }

  get current(): string {
    return this.#current;
  }

  show(name: string): void {
    this.#current = name;
    for (const tab of this.#tabs) {
      const selected = tab.dataset['tab'] === name;
      tab.setAttribute('aria-selected', String(selected));
      const pane = document.getElementById(tab.getAttribute('aria-controls') ?? '');
      if (pane) pane.hidden = !selected;
    }
  }
}
