// The counter page: sends what the clerk scanned or typed to the POS server (which redeems it
// with the shop's key through @webkey/vendor-sdk) and fills the intake form with the answer.
// Plain ES module, no build step, nothing inline (the page's CSP forbids it).

/** @param {string} id @returns {HTMLElement} */
const byTestId = (id) => {
  const element = document.querySelector(`[data-testid="${id}"]`);
  if (!(element instanceof HTMLElement)) throw new Error(`missing [data-testid="${id}"]`);
  return element;
};

const readerForm = /** @type {HTMLFormElement} */ (byTestId('reader-form'));
const keyInput = /** @type {HTMLTextAreaElement} */ (byTestId('key-input'));
const vaultInput = /** @type {HTMLInputElement} */ (byTestId('vault-input'));
const redeemButton = /** @type {HTMLButtonElement} */ (byTestId('redeem'));
const scanButton = /** @type {HTMLButtonElement} */ (byTestId('scan'));
const camera = /** @type {HTMLElement} */ (byTestId('camera'));
const video = /** @type {HTMLVideoElement} */ (byTestId('camera-video'));
const scanStop = /** @type {HTMLButtonElement} */ (byTestId('scan-stop'));
const refusal = /** @type {HTMLElement} */ (byTestId('refusal'));
const statusLine = /** @type {HTMLElement} */ (byTestId('status'));
const intake = /** @type {HTMLElement} */ (byTestId('intake'));
const intakeForm = /** @type {HTMLFormElement} */ (byTestId('intake-form'));
const summary = /** @type {HTMLElement} */ (byTestId('result-summary'));
const sharedList = /** @type {HTMLUListElement} */ (byTestId('shared-list'));
const missingList = /** @type {HTMLUListElement} */ (byTestId('missing-list'));
const clearButton = /** @type {HTMLButtonElement} */ (byTestId('clear'));

const REDEEM_LABEL = 'Read details';
const WEB_KEY_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Plain words for record categories, as the customer saw them when handing over. */
const CATEGORY_WORDS = {
  profile: 'Name and date of birth',
  contact: 'Contact details',
  preferences: 'Preferences',
  address: 'Address',
  insurance: 'Insurance card',
  prescription: 'Prescription',
  identity_document: 'Identity document',
};

/**
 * "address.home" → "Address (home)", "profile.age_over_21" → "Over 21".
 * @param {string} item
 */
function plainWords(item) {
  const age = /^profile\.age_over_(\d+)$/.exec(item);
  if (age) return `Over ${age[1]}`;
  const [category = item, label] = item.split('.');
  const words = CATEGORY_WORDS[/** @type {keyof typeof CATEGORY_WORDS} */ (category)] ?? category;
  return label ? `${words} (${label.replaceAll('_', ' ')})` : words;
}

/**
 * "address.home" → "(home)": which of the customer's records filled a section.
 * @param {string} path
 */
function labelOf(path) {
  const label = path.split('.')[1];
  return label ? `(${label.replaceAll('_', ' ')})` : '';
}

/** Refusals about the key itself: the clerk talks to the customer, no support reference needed. */
const CUSTOMER_KINDS = new Set([
  'WebkeyUsedOrRevokedError',
  'WebkeyExpiredError',
  'WebkeyNotForYouError',
  'UntrustedIssuerError',
  'WebkeyInvalidError',
  'BadRequest',
]);

let busy = false;

/** @param {string} id @param {unknown} value */
function setField(id, value) {
  const input = /** @type {HTMLInputElement} */ (byTestId(id));
  input.value = value === undefined || value === null ? '' : String(value);
  input.classList.toggle('filled', input.value !== '');
}

/** @param {boolean | undefined} value */
const yesNo = (value) => (value === true ? 'Yes' : value === false ? 'No' : '');

/**
 * The first granted record whose path starts with `prefix`, and its path.
 * @param {Record<string, any>} fields @param {string} prefix
 */
function firstOf(fields, prefix) {
  const path = Object.keys(fields).find((key) => key.startsWith(prefix));
  return path === undefined ? { path: '', value: undefined } : { path, value: fields[path] };
}

/** @param {HTMLElement} element @param {string} text */
function setText(element, text) {
  element.textContent = text;
}

function clearIntake() {
  for (const input of intakeForm.querySelectorAll('input')) {
    input.value = '';
    input.classList.remove('filled');
  }
  setText(byTestId('intake-address-path'), '');
  setText(byTestId('intake-insurance-path'), '');
  sharedList.replaceChildren();
  missingList.replaceChildren();
  setText(summary, 'Waiting for a web key.');
  intake.classList.remove('has-result');
}

/**
 * @param {HTMLUListElement} list @param {string[]} items
 * @param {(item: string) => string} [describe]
 */
function fillList(list, items, describe = plainWords) {
  list.replaceChildren(
    ...items.map((item) => {
      const entry = document.createElement('li');
      entry.dataset.item = item;
      entry.textContent = describe(item);
      return entry;
    }),
  );
}

/** @param {string} iso */
function timeOf(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime())
    ? iso
    : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/**
 * Fills the intake form with a redemption: exactly what was granted, nothing else.
 * @param {{ fields: Record<string, any>, claims: Record<string, boolean>, missing: string[],
 *   subject: string, purpose: string, vault: string, redeemedAt: string }} result
 */
function fillIntake(result) {
  const { fields, claims } = result;
  const profile = fields.profile ?? {};
  setField('intake-name', profile.legalName);
  setField('intake-birthDate', profile.birthDate);
  setField('intake-over18', yesNo(claims['profile.age_over_18']));
  setField('intake-over21', yesNo(claims['profile.age_over_21']));
  setField('intake-subject', result.subject);

  const address = firstOf(fields, 'address.');
  const lines = address.value?.lines ?? [];
  setField('intake-address-line1', lines[0]);
  setField('intake-address-line2', lines.slice(1).join(', '));
  setField('intake-address-locality', address.value?.locality);
  setField('intake-address-region', address.value?.region);
  setField('intake-address-postalCode', address.value?.postalCode);
  setField('intake-address-country', address.value?.country);
  setText(byTestId('intake-address-path'), labelOf(address.path));

  const insurance = firstOf(fields, 'insurance.');
  setField('intake-insurer', insurance.value?.insurer);
  setField('intake-memberId', insurance.value?.memberId);
  setField('intake-plan', insurance.value?.plan);
  setField('intake-groupNumber', insurance.value?.groupNumber);
  setText(byTestId('intake-insurance-path'), labelOf(insurance.path));

  const contact = fields.contact ?? {};
  setField('intake-email', contact.emails?.[0]?.address);
  setField('intake-phone', contact.phones?.[0]?.number);

  const shared = [...Object.keys(fields), ...Object.keys(claims)];
  fillList(sharedList, shared, (item) =>
    item in claims ? `${plainWords(item)}: ${yesNo(claims[item])}` : plainWords(item),
  );
  fillList(missingList, result.missing);
  setText(
    summary,
    `Read at ${timeOf(result.redeemedAt)} from ${result.vault}. Purpose: “${result.purpose}”.`,
  );
  intake.classList.add('has-result');
}

/**
 * Shows why a key was not read; empty text hides the box.
 * @param {string} message @param {string} [reference]
 */
function showRefusal(message, reference) {
  refusal.replaceChildren();
  if (!message) return;
  const text = document.createElement('p');
  text.textContent = message;
  refusal.append(text);
  if (reference) {
    const small = document.createElement('p');
    small.className = 'reference';
    small.textContent = `Reference for support: ${reference}`;
    refusal.append(small);
  }
}

/** On a phone the form is below the reader: bring it into view once it has filled. */
function revealIntake() {
  if (intake.getBoundingClientRect().top < window.innerHeight * 0.6) return;
  const still = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  intake.scrollIntoView({ behavior: still ? 'auto' : 'smooth', block: 'start' });
}

/** @param {boolean} on */
function setBusy(on) {
  busy = on;
  redeemButton.setAttribute('aria-disabled', String(on));
  redeemButton.textContent = on ? 'Reading…' : REDEEM_LABEL;
  intake.setAttribute('aria-busy', String(on));
}

async function redeem() {
  if (busy) return;
  const input = keyInput.value.trim();
  showRefusal('');
  if (!input) {
    showRefusal('Paste the web key or type the short code first.');
    keyInput.focus();
    return;
  }
  // A new key is a new customer: never leave the previous customer's details on screen.
  clearIntake();
  setBusy(true);
  setText(statusLine, 'Reading the key…');
  try {
    const vault = vaultInput.value.trim();
    const response = await fetch('/api/redeem', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(
        vault && !WEB_KEY_SHAPE.test(input) ? { input, issuer: vault } : { input },
      ),
    });
    const body = await response.json().catch(() => undefined);
    if (response.ok && body && typeof body.fields === 'object') {
      fillIntake(body);
      revealIntake();
      keyInput.value = '';
      const count = Object.keys(body.fields).length + Object.keys(body.claims).length;
      setText(
        statusLine,
        `Details read: ${count} ${count === 1 ? 'item' : 'items'} shared` +
          (body.missing.length ? `, ${body.missing.length} not on file.` : '.'),
      );
    } else {
      setText(statusLine, '');
      const error = body?.error;
      showRefusal(
        error?.message ?? 'Something went wrong at this counter. Try again.',
        CUSTOMER_KINDS.has(error?.kind) ? undefined : error?.requestId,
      );
      keyInput.focus();
      keyInput.select();
    }
  } catch {
    setText(statusLine, '');
    showRefusal('This counter cannot reach its server. Check the connection and try again.');
  } finally {
    setBusy(false);
  }
}

readerForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void redeem();
});

// Enter reads the key (Shift+Enter still breaks the line). USB QR scanners "type" the code and
// press Enter, so they work too.
keyInput.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    readerForm.requestSubmit();
  }
});

clearButton.addEventListener('click', () => {
  clearIntake();
  showRefusal('');
  setText(statusLine, '');
  keyInput.value = '';
  keyInput.focus();
});

// --- Scanning with the camera, where the browser has BarcodeDetector -------------------------

/** @type {MediaStream | undefined} */
let stream;
let scanning = false;

function stopScan() {
  scanning = false;
  for (const track of stream?.getTracks() ?? []) track.stop();
  stream = undefined;
  video.srcObject = null;
  camera.hidden = true;
  scanButton.hidden = false;
}

async function startScan() {
  showRefusal('');
  // @ts-expect-error BarcodeDetector is not in TypeScript's DOM library yet.
  const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: 'environment' },
      audio: false,
    });
  } catch {
    showRefusal('The camera is not available. Allow camera access, or type the short code.');
    return;
  }
  video.srcObject = stream;
  camera.hidden = false;
  scanButton.hidden = true;
  scanStop.focus();
  try {
    await video.play();
  } catch {
    // Autoplay refusals do not stop detection on the frames that arrive.
  }
  scanning = true;
  const tick = async () => {
    if (!scanning) return;
    try {
      const codes = await detector.detect(video);
      const text = codes.map((/** @type {{ rawValue: string }} */ c) => c.rawValue).find(Boolean);
      if (text && scanning) {
        stopScan();
        keyInput.value = text.trim();
        await redeem();
        return;
      }
    } catch {
      // No frame yet: try again on the next one.
    }
    setTimeout(tick, 150);
  };
  void tick();
}

async function offerScanning() {
  if (!('BarcodeDetector' in window) || !navigator.mediaDevices?.getUserMedia) return;
  try {
    // @ts-expect-error BarcodeDetector is not in TypeScript's DOM library yet.
    const formats = await window.BarcodeDetector.getSupportedFormats?.();
    if (Array.isArray(formats) && !formats.includes('qr_code')) return;
  } catch {
    return;
  }
  scanButton.hidden = false;
  scanButton.addEventListener('click', () => void startScan());
  scanStop.addEventListener('click', () => {
    stopScan();
    scanButton.focus();
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && scanning) stopScan();
  });
}

void offerScanning();
