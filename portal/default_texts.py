"""The built-in enrollment text and privacy disclosure in the shipped languages other than English.

They are shown while the organisation keeps the built-in English texts (``portal.settings_store``'s
defaults): a fresh install then speaks the employee's language before anyone has written a word. Once
the organisation writes its own text, its own translations (or its default language) take over.
"""
from __future__ import annotations

ENROLLMENT_TEXT = {
    "de": """\
Melden Sie Ihr eigenes iPhone oder iPad an, um die Apps und Daten der Organisation darauf zu nutzen.
Ihre persönlichen Daten bleiben privat.
""",
    "fr": """\
Inscrivez votre propre iPhone ou iPad pour y utiliser les apps et les données de l'organisation.
Vos données personnelles restent privées.
""",
    "es": """\
Inscriba su propio iPhone o iPad para usar en él las apps y los datos de la organización.
Sus datos personales siguen siendo privados.
""",
    "ja": """\
ご自身の iPhone または iPad を登録すると、組織の App とデータをそのデバイスで使用できます。
個人のデータは非公開のままです。
""",
}

PRIVACY_DISCLOSURE = {
    "de": """\
## Was Ihre Organisation sehen und tun kann

Dies ist eine **Benutzerregistrierung**: Ihre persönlichen Daten und die Daten Ihrer Organisation bleiben auf dem
Gerät getrennt.

**Die IT kann:**
- die Apps, Accounts und Einstellungen installieren und entfernen, die die Organisation verwaltet (WLAN,
  VPN pro App, Mail, Zertifikate);
- die Namen und Versionen der von ihr verwalteten Apps sehen sowie die Einstellungen und Profile, die sie
  installiert hat;
- grundlegende Gerätedaten sehen: Modell, iOS-Version, Gerätename, Speicherkapazität, Batteriestand;
- verlangen, dass das Gerät einen Code hat, und den Bildschirm sperren (Sie entsperren ihn mit Ihrem eigenen
  Code);
- die Apps und Daten der Organisation (nur diese) vom Gerät entfernen.

**Die IT kann nicht:**
- Ihre persönlichen E-Mails, Nachrichten, Fotos, Ihren Browserverlauf, Kalender, Ihre Kontakte oder Ihren
  Standort sehen;
- Ihre persönlichen Apps und Daten sehen oder entfernen;
- die Seriennummer, Telefonnummer oder andere Hardwarekennungen Ihres Geräts sehen;
- Ihr Gerät orten oder in den Modus „Verloren“ versetzen;
- Ihr Gerät löschen, seinen Code löschen oder zurücksetzen oder es neu starten.

Sie können die Registrierung jederzeit unter *Einstellungen › Allgemein › VPN und Geräteverwaltung* beenden.
Dabei werden die Apps und Daten der Organisation entfernt und sonst nichts.
""",
    "fr": """\
## Ce que votre organisation peut voir et faire

Il s'agit d'une **inscription d'utilisateur** : vos données personnelles et celles de votre organisation restent
séparées sur l'appareil.

**Le service informatique peut :**
- installer et supprimer les apps, comptes et réglages que l'organisation gère (Wi-Fi, VPN par app, mail,
  certificats) ;
- voir les noms et versions des apps qu'il gère, ainsi que les réglages et profils qu'il a installés ;
- voir des informations de base sur l'appareil : modèle, version d'iOS, nom de l'appareil, capacité de
  stockage, niveau de batterie ;
- exiger que l'appareil ait un code et verrouiller l'écran (vous le déverrouillez avec votre propre code) ;
- supprimer de l'appareil les apps et données de l'organisation (uniquement celles-ci).

**Le service informatique ne peut pas :**
- voir vos e-mails, messages, photos, historique de navigation, calendrier, contacts ou position personnels ;
- voir ni supprimer vos apps et données personnelles ;
- voir le numéro de série, le numéro de téléphone ou d'autres identifiants matériels de votre appareil ;
- localiser votre appareil ni le placer en mode Perdu ;
- effacer votre appareil, supprimer ou réinitialiser son code, ni le redémarrer.

Vous pouvez mettre fin à l'inscription à tout moment dans *Réglages › Général › VPN et gestion de l'appareil*.
Cela supprime les apps et données de l'organisation, et rien d'autre.
""",
    "es": """\
## Lo que su organización puede ver y hacer

Esto es una **inscripción de usuario**: sus datos personales y los de su organización se mantienen separados
en el dispositivo.

**El departamento de TI puede:**
- instalar y eliminar las apps, cuentas y ajustes que gestiona la organización (wifi, VPN por app, correo,
  certificados);
- ver los nombres y versiones de las apps que gestiona, y los ajustes y perfiles que instaló;
- ver datos básicos del dispositivo: modelo, versión de iOS, nombre del dispositivo, capacidad de
  almacenamiento, nivel de batería;
- exigir que el dispositivo tenga un código y bloquear la pantalla (usted la desbloquea con su propio código);
- eliminar del dispositivo las apps y los datos de la organización (solo esos).

**El departamento de TI no puede:**
- ver su correo, mensajes, fotos, historial de navegación, calendario, contactos o ubicación personales;
- ver ni eliminar sus apps y datos personales;
- ver el número de serie, el número de teléfono u otros identificadores de hardware de su dispositivo;
- localizar su dispositivo ni activar el modo Perdido;
- borrar su dispositivo, borrar o restablecer su código, ni reiniciarlo.

Puede finalizar la inscripción en cualquier momento en *Ajustes › General › VPN y gestión de dispositivos*.
Al hacerlo se eliminan las apps y los datos de la organización, y nada más.
""",
    "ja": """\
## 組織が確認できること・できること

これは**ユーザ登録**です。デバイス上で、あなたの個人データと組織のデータは分けて保管されます。

**IT 部門ができること:**
- 組織が管理する App、アカウント、設定(Wi-Fi、App 単位の VPN、メール、証明書)のインストールと削除
- 組織が管理する App の名前とバージョン、および組織がインストールした設定とプロファイルの確認
- 基本的なデバイス情報の確認: モデル、iOS のバージョン、デバイス名、ストレージ容量、バッテリー残量
- デバイスにパスコードを設定するよう求めること、画面のロック(ロックはご自身のパスコードで解除します)
- デバイスから組織の App とデータ(それらのみ)を削除すること

**IT 部門ができないこと:**
- 個人のメール、メッセージ、写真、閲覧履歴、カレンダー、連絡先、位置情報の確認
- 個人の App とデータの確認や削除
- デバイスのシリアル番号、電話番号、その他のハードウェア識別子の確認
- デバイスの位置の特定や紛失モードへの切り替え
- デバイスの消去、パスコードの消去やリセット、デバイスの再起動

登録は*設定 › 一般 › VPNとデバイス管理*からいつでも終了できます。終了すると組織の App とデータが削除され、それ以外は何も削除されません。
""",
}
