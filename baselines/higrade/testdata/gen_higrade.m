% gen_higrade.m: makes higrade.json, the reference for baselines/higrade.
%
% Runs the authors' HIGRADE release (github.com/utlive/higrade at 150eb216: higrade_1.m,
% higrade_grad_log.m, higrade_spatial.m, nakafit.m and the release's copy of MATLAB's imgradient.m)
% unchanged in Octave 7.3 + octave-image 2.14 (Debian 12). The release lists gaussian_para_esti.m but
% does not ship it; the copy used is haocaiMUN/Sharpness-Assessment@0c749ea1 gaussian_para_esti.m (GGD
% fit on the grid 0.2:0.001:10, moments about the sample mean). None of these files is in this
% repository: put them in one folder and run, from this folder,
%
%   HIGRADE_SRC=/path/to/folder CALIBRA=../../../../shared/data/calibra octave --no-gui -q gen_higrade.m
%
% higrade_1 is called on the uint8 RGB image, as higrade_example.m calls it. Shims:
% - makecform('srgb2lab') / applycform (Octave has neither). MATLAB's applycform keeps the class of a
%   uint8 image (im2double in, lab2uint8 out), which is what higrade_1 hands to higrade_grad_log. The
%   L*a*b* doubles are ../../matlab/testdata/srgb2lab_matlab.m's: the chain makecform.m builds by default
%   (sRGB.icm's spline-interpolated curves and colorants, Bradford from D50 to the ICC white, xyz2lab
%   relative to the ICC white), as matlab.SRGB2Lab computes it; see ../../matlab/testdata/gen_lab.m.
% - imgradientxy: MATLAB's (double input, kernels -fspecial('sobel') and its transpose, imfilter
%   'replicate'); octave-image's uses conv2 with zero padding.
% - fspecial 'gaussian' as MATLAB's fspecial.m.
1;
function c = makecform(type)
  assert(strcmp(type, 'srgb2lab'), 'makecform shim: only srgb2lab');
  c = struct('type', type);
end
function out = applycform(im, c)
  cls = class(im);
  v = double(im);
  if strcmp(cls, 'uint8'), v = v/255; end
  [h, w, ~] = size(v);
  lab = reshape(srgb2lab_matlab(reshape(v, [], 3)), h, w, 3);
  if strcmp(cls, 'uint8'), out = lab2uint8(lab); else out = lab; end
end
function [Gx, Gy] = imgradientxy(I, method)
  assert(strcmpi(method, 'sobel'));
  if ~isfloat(I), I = double(I); end
  h = -[1 2 1; 0 0 0; -1 -2 -1];
  Gx = imfilter(I, h', 'replicate');
  Gy = imfilter(I, h, 'replicate');
end
function h = fspecial(type, hsize, sigma)
  assert(strcmp(type, 'gaussian'));
  if isscalar(hsize), hsize = [hsize hsize]; end
  s = (hsize - 1)/2;
  [x, y] = meshgrid(-s(2):s(2), -s(1):s(1));
  h = exp(-(x.*x + y.*y)/(2*(sigma*sigma)));
  h(h < eps*max(h(:))) = 0;
  h = h/sum(h(:));
end
function s = jvec(v)
  s = strjoin(arrayfun(@(x) sprintf('%.17g', x), v(:)', 'UniformOutput', false), ',');
  s = strrep(strrep(strrep(s, '-Inf', '"-Inf"'), 'Inf', '"Inf"'), 'NaN', '"NaN"');
  s = strrep(s, '""', '"');
end

pkg load image
addpath(getenv('HIGRADE_SRC'));
addpath(fullfile(pwd, '..', '..', 'matlab', 'testdata'));   % srgb2lab_matlab.m
calibra = getenv('CALIBRA');
% gen1-gen3.png are baselines/gmlf/testdata's generated images (gen_gmlf.m); gen4.png is a gray
% version of gen1 (R = G = B), whose a and b channels come out nearly flat.
g1 = double(imread('gen1.png'));
g = uint8(round(0.3*g1(:,:,1) + 0.6*g1(:,:,2) + 0.1*g1(:,:,3)));
imwrite(cat(3, g, g, g), 'gen4.png');
names = {'I03','I04','I06','I08','I19','G0','G1','G2','G3','G4','G5','gen1','gen2','gen3','gen4'};
parts = {};
for i = 1:numel(names)
  if strncmp(names{i}, 'gen', 3)
    path = [names{i} '.png']; im = imread(path);
  else
    path = ['calibra/' names{i} '.png']; im = imread(fullfile(calibra, [names{i} '.png']));
  end
  f = higrade_1(im);
  parts{end+1} = sprintf('{"name":"%s","file":"%s","features":[%s]}', names{i}, path, jvec(f));
end
how = ['gen_higrade.m: utlive/higrade 150eb216 higrade_1.m on the uint8 image in Octave ' version() ...
       ' + image ' pkg('describe', 'image'){1}.version '; makecform/applycform shimmed (L*a*b* as ' ...
       'baselines/matlab SRGB2Lab, uint8 in -> uint8 out as MATLAB), imgradientxy and fspecial(gaussian) ' ...
       'shimmed as MATLAB computes them'];
fid = fopen('higrade.json', 'w');
fprintf(fid, '{"how":"%s","images":[\n%s\n]}\n', how, strjoin(parts, sprintf(',\n')));
fclose(fid);
