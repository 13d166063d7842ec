#!/usr/bin/env bash
# Regenerates the speech fixtures in this directory (see README.md).
# Needs espeak-ng and sox (Debian: espeak-ng, sox, libsox-fmt-all),
# alsa-utils (for /usr/share/sounds/alsa) and ktuberling-data, klettres-data.
# Every file is 8 kHz, 16-bit, mono PCM WAV. The output is deterministic for a
# given espeak-ng/sox version; the committed files are the reference.
set -euo pipefail
cd "$(dirname "$0")"

tts() { # out voice speed text...
  local out=$1 voice=$2 speed=$3; shift 3
  espeak-ng -v "$voice" -s "$speed" -w /tmp/voxcap-tts.wav "$*"
  sox /tmp/voxcap-tts.wav -r 8000 -b 16 -c 1 "$out"
}
rec() { # out source
  sox "$2" -r 8000 -b 16 -c 1 "$1" remix -
}

tts espeak_en_m1_s150.wav        en+m1     150 "Yes, please call me back tomorrow morning."
tts espeak_en_f2_s170.wav        en+f2     170 "My account number is four seven two nine."
tts espeak_en-us_m3_s140.wav     en-us+m3  140 "I would like to speak to an agent."
tts espeak_en-us_f4_s190.wav     en-us+f4  190 "No, that is not correct, cancel it."
tts espeak_en-gb-scotland_m2_s160.wav en-gb-scotland+m2 160 "The delivery address has changed."
tts espeak_de_m4_s150.wav        de+m4     150 "Ja, bitte rufen Sie mich morgen an."
tts espeak_de_f1_s175.wav        de+f1     175 "Meine Kundennummer ist drei acht fünf."
tts espeak_fr_m2_s160.wav        fr+m2     160 "Oui, je voudrais parler à un conseiller."
tts espeak_fr_f3_s140.wav        fr+f3     140 "Non merci, ce n'est pas nécessaire."
tts espeak_es_m5_s165.wav        es+m5     165 "Sí, por favor, llámeme mañana."
tts espeak_es_f5_s180.wav        es+f5     180 "Mi número de cliente es nueve dos uno."
tts espeak_it_m6_s150.wav        it+m6     150 "Vorrei cambiare il mio appuntamento."
tts espeak_nl_f1_s160.wav        nl+f1     160 "Ik wil graag mijn bestelling annuleren."
tts espeak_pt_m7_s155.wav        pt+m7     155 "Obrigado, até amanhã."

rec alsa_front_center.wav  /usr/share/sounds/alsa/Front_Center.wav
rec alsa_rear_left.wav     /usr/share/sounds/alsa/Rear_Left.wav
rec alsa_side_right.wav    /usr/share/sounds/alsa/Side_Right.wav
rec ktuberling_en_coat.wav /usr/share/ktuberling/sounds/en/coat.ogg
rec ktuberling_de_hat.wav  /usr/share/ktuberling/sounds/de/hat.ogg
rec ktuberling_fr_egypte_chameau.wav /usr/share/ktuberling/sounds/fr/egypte_chameau.wav
rec klettres_en_syllab.wav /usr/share/klettres/en/syllab/aw.ogg
rm -f /tmp/voxcap-tts.wav
