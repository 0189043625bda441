; PredictML Desktop: per-user Windows installer (no administrator rights needed).
;
; Installs the PyInstaller folder dist\PredictML into %LOCALAPPDATA%\Programs\PredictML, adds a
; Start-menu entry, and registers an uninstaller under HKCU (Settings > Apps lists it). The uninstaller
; removes exactly what this installer put there; the users' data folder %LOCALAPPDATA%\PredictML
; (datasets, models, records, audit trail) is never touched.
;
; Build on Windows (packaging/README.md):  makensis /DVERSION=0.1.0 /DAPPDIR=dist\PredictML packaging\windows\predictml.nsi
; Defines:
;   VERSION   the app's version (predictml_desktop.__version__), required
;   APPDIR    the PyInstaller one-folder build, required
;   OUTFILE   the installer to write (default: PredictML-<VERSION>-setup.exe beside this script)
;   STANDIN   set when APPDIR is not a Windows build (the Linux CI compiles the script with the Linux
;             folder to check it; PredictML.exe is then not required)
;   NOCOMPRESS  store files uncompressed (the CI check: LZMA over 800 MB takes minutes)

!ifndef VERSION
  !error "Pass the version: makensis /DVERSION=0.1.0 ..."
!endif
!ifndef APPDIR
  !error "Pass the PyInstaller folder: makensis /DAPPDIR=dist\PredictML ..."
!endif
!ifndef OUTFILE
  !define OUTFILE "PredictML-${VERSION}-setup.exe"
!endif
!ifndef STANDIN
  !if ! /FileExists "${APPDIR}\PredictML.exe"
    !error "${APPDIR}\PredictML.exe is missing: build the app first (python packaging\package.py build)"
  !endif
!endif

!define APPNAME "PredictML Desktop"
!define EXENAME "PredictML.exe"
!define PUBLISHER "PredictML Desktop"
!define UNINSTKEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\PredictML"
; The data folder the app uses (platformdirs.user_data_dir("PredictML", appauthor=False)).
!define DATADIR "$LOCALAPPDATA\PredictML"

; The app is 64-bit only (Python 3.11 x64 wheels), so the installer is too.
Target amd64-unicode
ManifestDPIAware true
!ifdef NOCOMPRESS
  SetCompress off
!else
  SetCompressor /SOLID lzma
!endif

Name "${APPNAME}"
OutFile "${OUTFILE}"
; Per user: no UAC prompt, HKCU only, the user's own Programs folder.
RequestExecutionLevel user
InstallDir "$LOCALAPPDATA\Programs\PredictML"
InstallDirRegKey HKCU "${UNINSTKEY}" "InstallLocation"
BrandingText "${APPNAME} ${VERSION}"

!include "MUI2.nsh"
!include "LogicLib.nsh"

!define MUI_ICON "..\..\resources\predictml.ico"
!define MUI_UNICON "..\..\resources\predictml.ico"
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\${EXENAME}"
!define MUI_FINISHPAGE_RUN_TEXT "Start ${APPNAME}"

!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

VIProductVersion "${VERSION}.0"
VIAddVersionKey /LANG=${LANG_ENGLISH} "ProductName" "${APPNAME}"
VIAddVersionKey /LANG=${LANG_ENGLISH} "ProductVersion" "${VERSION}"
VIAddVersionKey /LANG=${LANG_ENGLISH} "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=${LANG_ENGLISH} "FileDescription" "${APPNAME} installer"
VIAddVersionKey /LANG=${LANG_ENGLISH} "CompanyName" "${PUBLISHER}"
VIAddVersionKey /LANG=${LANG_ENGLISH} "LegalCopyright" "${PUBLISHER}"

Function .onInit
  SetShellVarContext current
FunctionEnd

; The uninstaller deletes the install folder's contents: never let it be the data folder or a folder
; that holds anything else of the user's. The directory page asks .onVerifyInstDir; a silent install
; (/S /D=...) skips that page, so the section asks again.
Function RefusedInstDir
  StrCpy $0 0
  ${If} "$INSTDIR" == "${DATADIR}"
  ${OrIf} "$INSTDIR" == "$LOCALAPPDATA"
  ${OrIf} "$INSTDIR" == "$PROFILE"
  ${OrIf} "$INSTDIR" == "$DESKTOP"
  ${OrIf} "$INSTDIR" == "$DOCUMENTS"
    StrCpy $0 1
  ${EndIf}
FunctionEnd

Function .onVerifyInstDir
  Call RefusedInstDir
  ${If} $0 == 1
    Abort
  ${EndIf}
FunctionEnd

Section "PredictML" SecMain
  SectionIn RO
  Call RefusedInstDir
  ${If} $0 == 1
    MessageBox MB_ICONSTOP "PredictML cannot be installed into $INSTDIR: choose an empty folder of its own." /SD IDOK
    SetErrorLevel 2
    Quit
  ${EndIf}
  SetOutPath "$INSTDIR"
  ; An upgrade replaces the previous version's files: a library left from it could be loaded instead.
  RMDir /r "$INSTDIR\_internal"
  !ifdef STANDIN
    File "/oname=${EXENAME}" "${APPDIR}\PredictML"
  !else
    File "${APPDIR}\${EXENAME}"
  !endif
  SetOutPath "$INSTDIR\_internal"
  File /r "${APPDIR}\_internal\*.*"
  SetOutPath "$INSTDIR"

  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateDirectory "$SMPROGRAMS\${APPNAME}"
  CreateShortcut "$SMPROGRAMS\${APPNAME}\${APPNAME}.lnk" "$INSTDIR\${EXENAME}" "" "$INSTDIR\${EXENAME}" 0
  CreateShortcut "$SMPROGRAMS\${APPNAME}\Uninstall ${APPNAME}.lnk" "$INSTDIR\uninstall.exe"

  WriteRegStr HKCU "${UNINSTKEY}" "DisplayName" "${APPNAME}"
  WriteRegStr HKCU "${UNINSTKEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTKEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${UNINSTKEY}" "DisplayIcon" "$INSTDIR\${EXENAME},0"
  WriteRegStr HKCU "${UNINSTKEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTKEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINSTKEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTKEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTKEY}" "NoRepair" 1
  ; Settings > Apps shows this size (KB) before it is measured.
  !ifdef SIZE_KB
    WriteRegDWORD HKCU "${UNINSTKEY}" "EstimatedSize" ${SIZE_KB}
  !endif
SectionEnd

Function un.onInit
  SetShellVarContext current
FunctionEnd

Section "Uninstall"
  ; Only what the installer wrote: the executable, its _internal folder, the uninstaller; the
  ; folder itself goes only if nothing else is left in it. The data folder is not ours to delete.
  Delete "$INSTDIR\${EXENAME}"
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"

  Delete "$SMPROGRAMS\${APPNAME}\${APPNAME}.lnk"
  Delete "$SMPROGRAMS\${APPNAME}\Uninstall ${APPNAME}.lnk"
  RMDir "$SMPROGRAMS\${APPNAME}"

  DeleteRegKey HKCU "${UNINSTKEY}"
SectionEnd
